"""deploy/k8s builds, validates offline, and every workload is probed, sized, locked down and secret-free."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.helpers.kustomize import Resource, load_documents, pod_containers, pod_spec
from tests.unit.deploy.manifests import (
    BASE,
    EXTRA_SETTINGS,
    KEDA_CRDS,
    PRODUCTION,
    built,
    deployment_of,
    main_container,
    of_kind,
    selects,
    service,
    service_names,
    strings,
)

KUBERNETES_VERSION = "1.30"
BUILDS = pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])


def _keyed(resources: list[Resource]) -> dict[tuple[str, str], str]:
    return {(r["kind"], r["metadata"]["name"]): json.dumps(r, sort_keys=True) for r in resources}


@BUILDS
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize built in) not installed")
def test_the_test_build_agrees_with_kubectl_kustomize(directory: Path) -> None:
    out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True)
    theirs = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    assert _keyed(built(directory)) == _keyed(theirs)


@BUILDS
def test_every_built_in_object_validates_against_the_kubernetes_schema(directory: Path) -> None:
    problems = []
    for resource in built(directory):
        if resource["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{resource['kind']}/{resource['metadata']['name']}: {str(exc).splitlines()[0]}")
    assert not problems


def _strict(schema: Any) -> Any:
    """The CRD's schema as JSON Schema, refusing unknown fields like ``kubectl --validate=strict``."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    converted.pop("format", None)
    if schema.get("x-kubernetes-int-or-string"):
        converted.pop("type", None)
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        converted.setdefault("additionalProperties", False)
    return converted


def _crd_schemas() -> dict[str, Any]:
    schemas = {}
    for path in KEDA_CRDS.glob("*.yaml"):
        crd = load_documents(path)[0]
        version = next(v for v in crd["spec"]["versions"] if v["storage"])
        schemas[crd["spec"]["names"]["kind"]] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


@BUILDS
def test_keda_objects_validate_against_the_kept_crd_schema(directory: Path) -> None:
    schemas = _crd_schemas()
    keda = [r for r in built(directory) if r["apiVersion"].startswith("keda.sh/")]
    assert {r["kind"] for r in keda} == {"ScaledObject", "TriggerAuthentication"}
    for resource in keda:
        assert resource["apiVersion"] == "keda.sh/v1alpha1"
        jsonschema.validate(resource, schemas[resource["kind"]])


def test_the_kept_crd_schema_refuses_an_unknown_field() -> None:
    scaled = of_kind(built(BASE), "ScaledObject")["qbb-exporter"]
    typo = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}
    with pytest.raises(jsonschema.ValidationError, match="maxReplicas"):
        jsonschema.validate(typo, _crd_schemas()["ScaledObject"])


@BUILDS
def test_there_is_a_deployment_and_a_service_per_service(directory: Path) -> None:
    resources = built(directory)
    expected = {f"qbb-{name}" for name in service_names()}
    assert set(of_kind(resources, "Deployment")) == expected
    assert set(of_kind(resources, "Service")) == expected


@pytest.mark.parametrize("name", service_names())
def test_every_deployment_probes_readyz_and_healthz_on_the_port_it_listens_on(name: str) -> None:
    facts = service(name)
    container = main_container(deployment_of(built(PRODUCTION), name))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert ports == {"http": facts.port}
    assert env["QBB_HTTP_PORT"] == str(facts.port)
    assert {"/readyz", "/healthz"} <= facts.paths
    for probe, path in (
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ):
        assert container[probe]["httpGet"]["path"] == path, probe
        assert (
            ports.get(container[probe]["httpGet"]["port"], container[probe]["httpGet"]["port"]) == facts.port
        )
    assert container["command"] == ["python", "-m", f"services.{name}"]


@pytest.mark.parametrize("name", service_names())
def test_every_service_object_reaches_its_deployment(name: str) -> None:
    resources = built(PRODUCTION)
    deployment, svc = deployment_of(resources, name), of_kind(resources, "Service")[f"qbb-{name}"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects({"matchLabels": svc["spec"]["selector"]}, labels)
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(service(name).port, "http")]


def _workloads() -> list[Resource]:
    return [r for r in built(PRODUCTION) if pod_spec(r) is not None]


def test_every_container_has_cpu_and_memory_requests_and_limits() -> None:
    for workload in _workloads():
        for container in pod_containers(workload):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert set(resources[kind]) == {"cpu", "memory"}, (workload["metadata"]["name"], kind)


def _mebibytes(quantity: str) -> int:
    return int(quantity.removesuffix("Mi"))


@pytest.mark.parametrize(
    ("name", "measured_mb"), [("auth", 110), ("mapper", 117), ("exporter", 139), ("webhooks", 122)]
)
def test_memory_is_sized_from_the_measured_rss(name: str, measured_mb: int) -> None:
    resources = main_container(deployment_of(built(PRODUCTION), name))["resources"]
    request, limit = _mebibytes(resources["requests"]["memory"]), _mebibytes(resources["limits"]["memory"])
    assert measured_mb * 1.1 <= request <= measured_mb * 1.6
    assert limit >= 2 * request


def test_every_pod_runs_as_non_root_with_a_read_only_root_file_system() -> None:
    for workload in _workloads():
        spec = pod_spec(workload)
        assert spec is not None
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] >= 10000
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in pod_containers(workload):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["runAsNonRoot"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert any(
                m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in container["volumeMounts"]
            )


def test_the_production_namespace_enforces_the_restricted_pod_security_profile() -> None:
    namespace = of_kind(built(PRODUCTION), "Namespace")["qbo-bridge"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(
        r["metadata"].get("namespace") == "qbo-bridge" for r in built(PRODUCTION) if r["kind"] != "Namespace"
    )


@BUILDS
def test_no_secret_is_written_in_the_manifests(directory: Path) -> None:
    resources = built(directory)
    every_secret = set().union(*(service(n).secret_env for n in service_names()))
    assert "Secret" not in {r["kind"] for r in resources}
    config = of_kind(resources, "ConfigMap")["qbb-config"]["data"]
    assert not every_secret & set(config)
    for workload in [r for r in resources if pod_spec(r) is not None]:
        for container in pod_containers(workload):
            for var in container.get("env", []):
                if var["name"] in every_secret:
                    assert set(var) == {"name", "valueFrom"}, var["name"]
                    assert var["valueFrom"]["secretKeyRef"] == {"name": "qbb-secrets", "key": var["name"]}
    credentials = re.compile(r"://[^/@\s:]+:[^/@\s]+@")
    assert not [s for r in resources for s in strings(r) if credentials.search(s)]


@pytest.mark.parametrize("name", service_names())
def test_each_service_gets_every_secret_its_settings_require_and_no_other(name: str) -> None:
    container = main_container(deployment_of(built(PRODUCTION), name))
    from_secret = {v["name"] for v in container["env"] if "valueFrom" in v}
    assert from_secret == service(name).secret_env


def test_every_setting_in_the_config_map_is_one_the_code_reads() -> None:
    read = set(EXTRA_SETTINGS)
    for name in service_names():
        read |= {f"QBB_{field.upper()}" for field in service(name).settings.model_fields}
    config = of_kind(built(PRODUCTION), "ConfigMap")["qbb-config"]["data"]
    assert set(config) - read == set()
    assert config["QBB_ENVIRONMENT"] == "production"


def test_the_secret_example_names_every_key_the_manifests_reference() -> None:
    referenced = {s["key"] for r in built(PRODUCTION) for s in _secret_refs(r)}
    example = (BASE / "secret.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=$", example, flags=re.MULTILINE))
    assert referenced == documented


def _secret_refs(node: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            found.append(node["secretKeyRef"])
        if node.get("kind") == "TriggerAuthentication":
            found.extend(node["spec"]["secretTargetRef"])
        for value in node.values():
            found.extend(_secret_refs(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_secret_refs(value))
    return found


@pytest.mark.parametrize("name", service_names())
def test_a_disruption_budget_covers_every_deployment(name: str) -> None:
    resources = built(PRODUCTION)
    labels = deployment_of(resources, name)["spec"]["template"]["metadata"]["labels"]
    budgets = [
        p
        for p in of_kind(resources, "PodDisruptionBudget").values()
        if selects(p["spec"]["selector"], labels)
    ]
    assert len(budgets) == 1
    assert budgets[0]["spec"] == {**budgets[0]["spec"], "maxUnavailable": 1}
