"""Pytest plugin: a QBO sandbox subprocess for the session, plus helpers to set it up.

Register with `pytest_plugins = ["tests.helpers.sandbox"]`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.helpers.infra import die_with_parent

STARTUP_TIMEOUT_SECONDS = 20.0
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], timeout: float = STARTUP_TIMEOUT_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sandbox exited early with code {process.returncode}")
        try:
            if httpx.get(f"{url}/.well-known/openid_configuration", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(f"sandbox at {url} did not answer within {timeout} s")


def start_sandbox(*extra_args: str) -> tuple[str, subprocess.Popen[bytes]]:
    """Start `python -m sandbox` on a free port; returns (base url, process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port), *extra_args],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
    except BaseException:
        stop_sandbox(process)
        raise
    return url, process


def stop_sandbox(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """Base URL of a sandbox process shared by the whole test session."""
    url, process = start_sandbox()
    try:
        yield url
    finally:
        stop_sandbox(process)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_company(client: httpx.AsyncClient, **overrides: Any) -> str:
    """A new company (US Plus with sample data unless overridden); returns its realm id."""
    body = {
        "company_name": unique("Sandbox Company"),
        "country": "US",
        "edition": "plus",
        "multicurrency": False,
        "class_tracking": "off",
        "track_departments": False,
        "custom_txn_numbers": False,
        "seed": "sample",
        **overrides,
    }
    response = await client.post("/admin/companies", json=body)
    response.raise_for_status()
    realm_id: str = response.json()["realm_id"]
    return realm_id


async def create_app(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """A new OAuth app with unique credentials; returns it with client_id/client_secret."""
    body = {
        "client_id": unique("client"),
        "client_secret": unique("secret"),
        "redirect_uris": ["http://localhost:9999/callback"],
        "webhook_format": "legacy",
        **overrides,
    }
    response = await client.post("/admin/apps", json=body)
    response.raise_for_status()
    app: dict[str, Any] = response.json()
    return app


async def connect(
    client: httpx.AsyncClient,
    *,
    app: dict[str, Any],
    realm_id: str,
    redirect_uri: str,
    scope: str = "com.intuit.quickbooks.accounting",
) -> dict[str, Any]:
    """Authorize the app for the company and exchange the code; returns the token response."""
    state = unique("state")
    authorized = await client.post(
        "/admin/oauth/authorize",
        json={
            "client_id": app["client_id"],
            "realm_id": realm_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": scope,
        },
    )
    authorized.raise_for_status()
    query = parse_qs(urlparse(authorized.json()["redirect_url"]).query)
    response = await client.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri},
        auth=(app["client_id"], app["client_secret"]),
        headers={"Accept": "application/json"},
    )
    response.raise_for_status()
    tokens: dict[str, Any] = response.json()
    return tokens
