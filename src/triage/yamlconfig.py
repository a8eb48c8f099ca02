"""Load YAML into pydantic models, naming the line of every error.

Configuration is data (ARCHITECTURE invariant 7): a region or rules file that does not
validate refuses to load, and the message must point a person at the exact place.
PyYAML's composed node tree keeps line numbers; pydantic's error locations are paths
into the data; this module walks one with the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file that cannot be used; ``problems`` lists each one with its place."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def _node_at(node: yaml.Node, loc: tuple[int | str, ...]) -> yaml.Node:
    """The deepest node along ``loc`` that exists (errors can point below the data)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    node = value
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _describe(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_model(model: type[M], text: str, source: str) -> M:
    """Parse ``text`` as YAML and validate it as ``model``; raise ConfigError with lines."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "unknown line"
        raise ConfigError(source, [f"{where}: not valid YAML ({exc})"]) from exc
    if root is None:
        raise ConfigError(source, ["line 1: the file is empty"])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
            line = _node_at(root, loc).start_mark.line + 1
            problems.append(f"line {line}: {_describe(loc)}: {err['msg']}")
        raise ConfigError(source, problems) from exc


def read_config_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc


def load_model_file(model: type[M], path: Path) -> M:
    return load_model(model, read_config_text(path), str(path))


def line_of(text: str, loc: tuple[int | str, ...]) -> int:
    """The line of the entry at ``loc`` in a YAML text that loaded (for checks across
    files, made after validation): a mapping key's own line, else its value's."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return 1
    parent = _node_at(root, loc[:-1]) if loc else root
    if loc and isinstance(parent, yaml.MappingNode):
        for key, _value in parent.value:
            if str(key.value) == str(loc[-1]):
                return int(key.start_mark.line) + 1
    return int(_node_at(root, loc).start_mark.line) + 1
