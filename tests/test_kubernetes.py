"""The Kubernetes manifests in deploy/kubernetes: schema-valid, and in step with the code.

Every manifest is checked against the Kubernetes API schemas in strict mode
(unknown fields are errors), and the facts they repeat from elsewhere (the
image's port and user, the server's environment variables, its grace period,
the memory a worker needs) are compared with their source, so neither side
can drift alone.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from server.config import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "deploy" / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
DOCKERFILE = REPO / "Dockerfile"
# The oldest Kubernetes the manifests target (the preStop `sleep` action is
# on by default from 1.30), and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# Peak resident memory (MiB, VmHWM): per worker process after large HTML
# pages (bench/benchmark.py), and the parent process that supervises the
# workers (`python -m server --workers 2`, read from /proc/PID/status).
WORKER_RSS_MIB = 280
PARENT_RSS_MIB = 210

_UNITS = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9}


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p != KUSTOMIZATION)


def load_resources() -> list[tuple[Path, dict]]:
    resources = []
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                resources.append((path, doc))
    return resources


def find(kind: str, name: str | None = None) -> dict:
    found = [r for _, r in load_resources()
             if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container() -> dict:
    (only,) = find("Deployment")["spec"]["template"]["spec"]["containers"]
    return only


def env_of(c: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def bytes_of(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([A-Za-z]*)", str(quantity)).groups()
    return int(number) * _UNITS.get(unit, 1)


def cores_of(quantity: str) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def dockerfile(instruction: str) -> str:
    match = re.search(rf"^{instruction}\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert match, f"Dockerfile has no {instruction}"
    return match.group(1)


# -- schema -------------------------------------------------------------------

def test_every_manifest_is_listed_in_the_kustomization():
    listed = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))["resources"]
    assert sorted(listed) == [p.name for p in manifest_files()]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_passes_strict_schema_validation(version):
    resources = load_resources()
    kinds = {r["kind"] for _, r in resources}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds
    for path, resource in resources:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {resource['kind']} {resource['metadata']['name']}: "
                        f"{'.'.join(map(str, exc.path))}: {exc.message}")


def _misspelt_field(d):
    d["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"grpc": {"port": 50051}}


def _port_as_words(d):
    d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "fifty"


def _no_selector(d):
    del d["spec"]["selector"]


def _probe_port_name(d):
    # gRPC probes take a number only, unlike HTTP and TCP probes.
    d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpc"]["port"] = "grpc"


@pytest.mark.parametrize("breakage", [_misspelt_field, _port_as_words, _no_selector, _probe_port_name])
def test_the_validator_rejects_a_broken_copy(breakage):
    broken = copy.deepcopy(find("Deployment"))
    breakage(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_validator_rejects_a_broken_file(tmp_path):
    """The same check, through the YAML text: a copy of the file with one typo."""
    text = (MANIFESTS / "deployment.yaml").read_text(encoding="utf-8")
    assert "terminationGracePeriodSeconds:" in text
    broken = yaml.safe_load(text.replace("terminationGracePeriodSeconds:",
                                         "terminationGracePeriodSecond:"))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


# -- agreement with the image and the server -----------------------------------

def test_probes_ask_the_grpc_health_service_on_the_containers_grpc_port():
    c = container()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["grpc"] == int(dockerfile("EXPOSE"))
    assert int(env_of(c)["DECLUTTER_PORT"]) == ports["grpc"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == ports["grpc"], probe
        assert "service" not in c[probe]["grpc"], "the server reports health for service ''"


def test_services_reach_the_grpc_port_and_one_is_headless():
    c = container()
    pod_labels = find("Deployment")["spec"]["template"]["metadata"]["labels"]
    for name in ("declutter", "declutter-headless"):
        spec = find("Service", name)["spec"]
        assert spec["selector"].items() <= pod_labels.items()
        (port,) = spec["ports"]
        assert port["targetPort"] in [p["name"] for p in c["ports"]]
    assert find("Service", "declutter-headless")["spec"]["clusterIP"] == "None"


def test_environment_variables_are_settings_the_server_reads():
    known = {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    used = {name for name in env_of(container()) if name.startswith(ENV_PREFIX)}
    assert used, "the manifest sets no DECLUTTER_* variable"
    assert used <= known, f"unknown to server/config.py: {sorted(used - known)}"


def test_runs_as_the_images_non_root_user_with_a_read_only_root():
    pod = find("Deployment")["spec"]["template"]["spec"]
    uid = int(dockerfile("USER").split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid != 0
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]


def test_the_pod_outlives_the_servers_drain():
    pod = find("Deployment")["spec"]["template"]["spec"]
    c = container()
    grace = float(env_of(c)["DECLUTTER_GRACE_SECONDS"])
    pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    assert pod["terminationGracePeriodSeconds"] > pre_stop + grace


def test_resources_match_the_worker_count():
    c = container()
    workers = int(env_of(c)["DECLUTTER_WORKERS"])
    requests, limits = c["resources"]["requests"], c["resources"]["limits"]
    assert cores_of(requests["cpu"]) == workers
    needed = (PARENT_RSS_MIB + workers * WORKER_RSS_MIB) * 2 ** 20
    assert bytes_of(requests["memory"]) >= needed
    assert bytes_of(limits["memory"]) >= bytes_of(requests["memory"])


def test_the_disruption_budget_and_autoscaler_cover_the_deployment():
    deployment = find("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = find("PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    hpa = find("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    # Room for a voluntary disruption without going to zero.
    assert hpa["minReplicas"] >= 2 and deployment["spec"]["replicas"] >= 2
