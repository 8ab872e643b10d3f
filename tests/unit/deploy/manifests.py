"""What the deploy tests compare the manifests with: the services as the code defines them."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from shared.settings import ServiceSettings
from tests.helpers.kustomize import Resource, build

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
BASE, PRODUCTION = K8S / "base", K8S / "overlays" / "production"
KEDA_CRDS = K8S / "crds" / "keda"
# Another branch builds the console (services/console, :8095); its Deployment is here already.
CONSOLE_PORT = 8095
# Settings read outside the pydantic classes (by the OpenTelemetry SDK and Python itself).
EXTRA_SETTINGS = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "PYTHONDONTWRITEBYTECODE"}
# Not SecretStr in the code, but they carry the database's and broker's passwords.
CREDENTIAL_URLS = {"QBB_DATABASE_URL", "QBB_AMQP_URL"}


@dataclass(frozen=True)
class ServiceFacts:
    """One service as its code says: port, settings, queues, HTTP paths, whether it has a database."""

    name: str
    port: int
    settings: type[ServiceSettings]
    queues: frozenset[str]
    paths: frozenset[str]
    owns_schema: bool

    @property
    def secret_env(self) -> set[str]:
        """The environment variables of its secret settings (and the credential URLs it uses)."""
        names = {
            f"QBB_{n.upper()}" for n, f in self.settings.model_fields.items() if f.annotation is SecretStr
        }
        return names | CREDENTIAL_URLS if self.owns_schema else names


def service_names() -> list[str]:
    """Every deployable under services/ (a package with ``__main__.py``), and the console."""
    found = {p.parent.name for p in (ROOT / "services").glob("*/__main__.py")}
    return sorted(found | {"console"})


@cache
def service(name: str) -> ServiceFacts:
    """What the code of ``services/<name>`` defines (the console before its branch lands: the base)."""
    package = ROOT / "services" / name
    if not (package / "app.py").exists():
        return ServiceFacts(name, CONSOLE_PORT, ServiceSettings, frozenset(), frozenset(_PROBES), False)
    settings_module = importlib.import_module(f"services.{name}.settings")
    settings = next(
        cls
        for _, cls in inspect.getmembers(settings_module, inspect.isclass)
        if issubclass(cls, ServiceSettings) and cls.__module__ == settings_module.__name__
    )
    port = settings.model_fields["http_port"].default
    owns_schema = (package / "migrations" / "env.py").exists()
    definition = getattr(importlib.import_module(f"services.{name}.app"), "DEFINITION", None)
    if definition is None:  # not on the shared runtime (the console): its routers' paths, no queues
        return ServiceFacts(name, port, settings, frozenset(), frozenset(_router_paths(package)), owns_schema)
    from fastapi import FastAPI

    from shared.http import ops_router

    # Only the route table is read (public, private and the runtime's own): no resources needed.
    app = FastAPI()
    for router in (ops_router, definition.routes, definition.private_routes):
        app.include_router(router)
    paths = app.openapi()["paths"]
    queues = frozenset(s.queue for s in definition.router.subscriptions)
    return ServiceFacts(name, port, settings, queues, frozenset(paths), owns_schema)


_PROBES = ("/healthz", "/readyz")


def _router_paths(package: Path) -> set[str]:
    """The paths of every ``router`` in the package's ``routes*.py`` modules."""
    paths: set[str] = set()
    for path in package.glob("routes*.py"):
        router = getattr(importlib.import_module(f"services.{package.name}.{path.stem}"), "router", None)
        paths |= {route.path for route in getattr(router, "routes", []) if hasattr(route, "path")}
    return paths


@cache
def _built(directory: Path) -> tuple[Resource, ...]:
    return tuple(build(directory))


def built(directory: Path) -> list[Resource]:
    """The objects the kustomization at ``directory`` builds (cached; do not mutate)."""
    return list(_built(directory))


def of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    """Objects of ``kind`` by name."""
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def deployment_of(resources: list[Resource], name: str) -> Resource:
    """The Deployment of service ``name``."""
    return of_kind(resources, "Deployment")[f"qbb-{name}"]


def main_container(deployment: Resource) -> dict[str, Any]:
    """The service's own container (the one named after the service)."""
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if f"qbb-{c['name']}" == deployment["metadata"]["name"])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """True when ``selector.matchLabels`` matches ``labels`` (what deploy/k8s uses)."""
    assert set(selector) == {"matchLabels"}, "only matchLabels selectors are checked here"
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def strings(node: Any) -> list[str]:
    """Every string anywhere inside ``node``."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*strings(k), *strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []
