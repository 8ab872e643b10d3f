"""The house rules a reader relies on: services never import each other; the sandbox stands alone."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "mapper", "exporter", "webhooks")


def imported_modules(package: Path) -> Iterator[tuple[Path, str]]:
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                yield from ((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service(service: str) -> None:
    others = tuple(f"services.{other}" for other in SERVICES if other != service)
    offending = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p, m in imported_modules(ROOT / "services" / service)
        if m.startswith(others)
    ]
    assert not offending


def test_the_console_imports_no_service_it_calls() -> None:
    """It reaches the services only over their public HTTP APIs, with the person's own key."""
    offending = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p, m in imported_modules(ROOT / "services" / "console")
        if m.startswith(tuple(f"services.{s}" for s in SERVICES))
    ]
    assert not offending


def test_shared_never_imports_a_service() -> None:
    offending = [
        f"{p.relative_to(ROOT)}: {m}"
        for p, m in imported_modules(ROOT / "shared")
        if m.startswith("services")
    ]
    assert not offending


def test_the_sandbox_imports_nothing_of_the_product() -> None:
    offending = [
        f"{p.relative_to(ROOT)}: {m}"
        for p, m in imported_modules(ROOT / "sandbox")
        if m.startswith(("services", "shared"))
    ]
    assert not offending


def test_every_service_has_the_house_file_set() -> None:
    expected = {
        "__main__.py",
        "app.py",
        "settings.py",
        "handlers.py",
        "routes.py",
        "schemas.py",
        "service.py",
        "repository.py",
        "models.py",
    }
    for service in SERVICES:
        present = {p.name for p in (ROOT / "services" / service).glob("*.py")}
        assert expected <= present, f"services/{service} lacks {expected - present}"
        assert (ROOT / "services" / service / "migrations" / "env.py").is_file()


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_rules_do_no_io(service: str) -> None:
    """``service.py`` holds pure decisions: no database, HTTP or broker library reaches it."""
    io = ("sqlalchemy", "httpx", "aio_pika", "asyncpg")
    path = ROOT / "services" / service / "service.py"
    offending = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p, m in imported_modules(path.parent)
        if p == path and m.split(".")[0] in io
    ]
    assert not offending
