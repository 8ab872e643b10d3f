"""deploy/k8s scales each service on the queues it consumes, migrates first, exposes only public paths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.kustomize import Resource
from tests.unit.deploy.manifests import (
    PRODUCTION,
    built,
    deployment_of,
    of_kind,
    service,
    service_names,
)

# The paths Intuit and people reach from outside, and the service that serves each.
PUBLIC_PATHS = {
    "/v1/oauth/callback": "auth",
    "/v1/intuit/disconnect": "auth",
    "/v1/intuit/reconnect": "auth",
    "/v1/webhooks/qbo": "webhooks",
    "/": "console",
}


def _consuming() -> list[str]:
    return [n for n in service_names() if service(n).queues]


def _scaled_objects() -> dict[str, Resource]:
    return {
        s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(built(PRODUCTION), "ScaledObject").values()
    }


def _triggers(scaled: Resource, kind: str) -> list[dict[str, Any]]:
    return [t for t in scaled["spec"]["triggers"] if t["type"] == kind]


def test_the_consuming_services_are_the_ones_expected() -> None:
    assert set(_consuming()) >= {"mapper", "exporter", "webhooks"}


@pytest.mark.parametrize("name", _consuming())
def test_a_scaled_object_scales_each_consuming_service_on_every_queue_its_router_consumes(name: str) -> None:
    scaled = _scaled_objects()[f"qbb-{name}"]
    rabbit = _triggers(scaled, "rabbitmq")
    assert scaled["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert {t["metadata"]["queueName"] for t in rabbit} == service(name).queues
    for trigger in rabbit:
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert int(trigger["metadata"]["value"]) > 0
        assert trigger["authenticationRef"]["name"] in of_kind(built(PRODUCTION), "TriggerAuthentication")


@pytest.mark.parametrize("name", _consuming())
def test_cpu_is_the_fallback_trigger_of_every_scaled_object(name: str) -> None:
    scaled = _scaled_objects()[f"qbb-{name}"]
    assert [t["metricType"] for t in _triggers(scaled, "cpu")] == ["Utilization"]
    assert scaled["spec"]["fallback"]["replicas"] >= scaled["spec"]["minReplicaCount"]


def test_the_exporter_also_scales_on_its_jobs_ready_now() -> None:
    (trigger,) = _triggers(_scaled_objects()["qbb-exporter"], "postgresql")
    query = " ".join(trigger["metadata"]["query"].split())
    assert "FROM exporter.jobs j" in query
    assert "j.status = 'queued' AND j.next_attempt_at <= now()" in query
    auth = of_kind(built(PRODUCTION), "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"connection"}


@pytest.mark.parametrize("name", service_names())
def test_every_deployment_has_exactly_one_autoscaler_with_at_least_two_replicas_in_production(
    name: str,
) -> None:
    resources = built(PRODUCTION)
    target = f"qbb-{name}"
    hpas = [
        h
        for h in of_kind(resources, "HorizontalPodAutoscaler").values()
        if h["spec"]["scaleTargetRef"]["name"] == target
    ]
    scaled = [s for s in _scaled_objects() if s == target]
    assert len(hpas) + len(scaled) == 1
    minimum = hpas[0]["spec"]["minReplicas"] if hpas else _scaled_objects()[target]["spec"]["minReplicaCount"]
    assert minimum >= 2
    # An autoscaler owns the replica count: a Deployment that set one would fight it on every apply.
    assert "replicas" not in deployment_of(resources, name)["spec"]


def test_the_migration_job_runs_every_schema_migration_before_the_services() -> None:
    resources = built(PRODUCTION)
    job = of_kind(resources, "Job")["qbb-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "shared.migrate_all"]
    assert {v["name"] for v in container["env"] if "valueFrom" in v} == {"QBB_DATABASE_URL"}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    # `kubectl apply -l qbo-bridge/stage=pre-deploy` applies the Job with what it needs first.
    pre_deploy = {
        (r["kind"], r["metadata"]["name"])
        for r in resources
        if r["metadata"].get("labels", {}).get("qbo-bridge/stage") == "pre-deploy"
    }
    assert pre_deploy == {
        ("Namespace", "qbo-bridge"),
        ("ServiceAccount", "qbo-bridge"),
        ("ConfigMap", "qbb-config"),
        ("Job", "qbb-migrate"),
    }


def test_the_ingress_routes_exactly_the_public_paths_to_the_services_that_serve_them() -> None:
    (ingress,) = of_kind(built(PRODUCTION), "Ingress").values()
    routed = {
        path["path"]: (rule["host"], path["pathType"], path["backend"]["service"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert set(routed) == set(PUBLIC_PATHS)
    for path, (_host, path_type, backend) in routed.items():
        name = PUBLIC_PATHS[path]
        assert backend == {"name": f"qbb-{name}", "port": {"name": "http"}}
        assert path_type == ("Prefix" if path == "/" else "Exact")
        if path != "/":
            assert path in service(name).paths, f"{path} is not a route of services/{name}"
    tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
    assert {host for host, _, _ in routed.values()} <= tls_hosts


def test_the_public_base_url_is_the_host_intuit_calls_back() -> None:
    resources = built(PRODUCTION)
    (ingress,) = of_kind(resources, "Ingress").values()
    callback_host = next(
        r["host"]
        for r in ingress["spec"]["rules"]
        for p in r["http"]["paths"]
        if p["path"] == "/v1/oauth/callback"
    )
    config = of_kind(resources, "ConfigMap")["qbb-config"]["data"]
    assert config["QBB_PUBLIC_BASE_URL"] == f"https://{callback_host}"
    assert config["QBB_AUTH_INTERNAL_URL"] == f"http://qbb-auth:{service('auth').port}"
    assert config["QBB_EXPORTER_INTERNAL_URL"] == f"http://qbb-exporter:{service('exporter').port}"
