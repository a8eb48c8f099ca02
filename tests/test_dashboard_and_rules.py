"""The dashboard and the alert rules speak of metrics the service exports: a renamed
metric must fail here, not on a night when the alert should have fired."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import triage.observability.metrics  # noqa: F401 - registers every metric

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
_NAME = re.compile(r"\btriage_[a-z_]+")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def _exported() -> set[str]:
    """Metric family names (counters without _total, histograms without _bucket)."""
    return {f.name for f in REGISTRY.collect() if f.name.startswith("triage_")}


def _family(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _used(text: str) -> set[str]:
    return set(_NAME.findall(text))


def test_the_dashboard_and_rules_use_only_exported_metrics() -> None:
    exported = _exported()
    dashboard = (DEPLOY / "grafana" / "triage.json").read_text("utf-8")
    rules = (DEPLOY / "prometheus" / "alerts.yml").read_text("utf-8")
    for where, text in (("dashboard", dashboard), ("alert rules", rules)):
        unknown = {n for n in _used(text) if _family(n) not in exported and n not in exported}
        assert not unknown, f"{where} use metrics the service does not export: {unknown}"
    assert len(_used(dashboard)) >= 20


def test_the_committed_dashboard_is_what_build_py_writes(tmp_path: Path) -> None:
    before = (DEPLOY / "grafana" / "triage.json").read_text("utf-8")
    subprocess.run([sys.executable, str(DEPLOY / "grafana" / "build.py")], check=True,
                   capture_output=True)  # fmt: skip
    assert (DEPLOY / "grafana" / "triage.json").read_text("utf-8") == before
    assert json.loads(before)["uid"] == "triage-overview"


def test_every_alert_has_a_severity_a_runbook_and_tests_firing_and_not() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text("utf-8"))
    tests = yaml.safe_load((DEPLOY / "prometheus" / "tests" / "alerts_test.yml").read_text())
    outcomes: dict[str, set[bool]] = {}
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            outcomes.setdefault(check["alertname"], set()).add(bool(check["exp_alerts"]))
    root = DEPLOY.parent
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule["alert"]
            assert rule["labels"]["severity"] in ("critical", "warning"), name
            assert rule["annotations"]["summary"], name
            assert (root / rule["annotations"]["runbook_url"]).is_file(), name
            assert outcomes.get(name) == {True, False}, f"{name}: test it firing and not"
