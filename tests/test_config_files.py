"""Configuration is data: a bad file refuses to load and names the field and the line."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from triage.region import load_region
from triage.scoring import load_rules
from triage.yamlconfig import ConfigError

REGION = resources.files("triage.regions").joinpath("hart-van-brabant.yaml").read_text("utf-8")
RULES = resources.files("triage.scoring").joinpath("rules.yaml").read_text("utf-8")


def test_shipped_files_load() -> None:
    region = load_region()
    assert len(region.gebieden) >= 4
    assert region.gebied_for_postcode("5038AB") == "tilburg"
    assert region.gebied_for_place("'s Gravenmoer") == "west"
    rules = load_rules()
    assert len(rules.signals) >= 23


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_bad_range_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = REGION.replace('"5141-5146"', '"5146-5141"')
    path = tmp_path / "region.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as caught:
        load_region(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"line {_line_of(bad, '5146-5141')}: gebieden.1.pc4")


def test_overlapping_gebieden_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "region.yaml"
    path.write_text(REGION.replace('"5051-5053"', '"5049-5053"'))
    with pytest.raises(ConfigError, match="PC4 5049 is in both gebied tilburg and gebied zuid"):
        load_region(path)


def test_a_negative_weight_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = RULES.replace(
        "weight: 20\n    reason: Er is letsel.", "weight: -5\n    reason: Er is letsel."
    )
    path = tmp_path / "rules.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"line {_line_of(bad, 'weight: -5')}: signals.letsel.weight")


def test_config_check_command_exits_2_and_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    bad = RULES.replace("  crisis:   {min_score: 80", "  crisis:   {min_score: 180")
    path.write_text(bad)
    result = subprocess.run(
        [sys.executable, "-m", "triage", "config", "check", "--kind", "rules", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "levels.crisis.min_score" in result.stderr
    assert f"line {_line_of(bad, 'min_score: 180')}:" in result.stderr
    assert "read as a rules file" in result.stderr  # a file of another kind says so
    good = subprocess.run(
        [sys.executable, "-m", "triage", "config", "check", "--kind", "region",
         str(Path(str(resources.files("triage.regions").joinpath("hart-van-brabant.yaml"))))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr


def test_config_check_checks_a_network_file_against_the_region(tmp_path: Path) -> None:
    text = resources.files("triage.regions").joinpath("hart-van-brabant-netwerk.yaml")
    bad = text.read_text("utf-8").replace("  oost:\n", "  noord:\n", 1)
    path = tmp_path / "netwerk.yaml"
    path.write_text(bad)
    result = subprocess.run(
        [sys.executable, "-m", "triage", "config", "check", "--kind", "network", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"line {_line_of(bad, '  noord:')}: networks.noord: is not a gebied" in result.stderr


def test_every_data_file_the_package_reads_is_installed_with_it() -> None:
    # The image installs the package, not the source tree (deploy/Dockerfile): a data
    # file that package-data does not name is missing there (the recognition model was).
    import tomllib

    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["triage"]
    suffixes = {g.rsplit("*", 1)[1] for g in globs if "*" in g}
    names = {g for g in globs if "*" not in g}
    package = root / "src" / "triage"
    data = [
        p.relative_to(package)
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert data  # the walk found the data files at all
    left_out = [str(p) for p in data if p.suffix not in suffixes and p.name not in names]
    assert not left_out, f"not in [tool.setuptools.package-data]: {left_out}"
