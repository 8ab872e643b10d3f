"""Several auth processes on one database: one refresh per connection across all of them; clean logs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from services.auth import handlers
from services.auth.crypto import TokenCipher
from shared.db import create_engine
from tests.helpers.broker import delete_namespace
from tests.helpers.infra import die_with_parent
from tests.helpers.sandbox import create_app, create_company, free_port
from tests.integration.auth.conftest import ADMIN, INTERNAL, consent, make_access_token_due, tenant

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Cluster:
    urls: list[str]
    app: dict[str, Any]
    sandbox: httpx.AsyncClient
    cipher: TokenCipher
    logs: list[Path]

    def log_text(self) -> str:
        return "\n".join(path.read_text() for path in self.logs)


def _environment(
    *, port: int, public_port: int, app: dict[str, Any], key: str, **infra: str
) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "QBB_DATABASE_URL": infra["database_url"],
        "QBB_AMQP_URL": infra["amqp_url"],
        "QBB_AMQP_NAMESPACE": infra["namespace"],
        "QBB_ENVIRONMENT": "test",
        "QBB_LOG_LEVEL": "INFO",
        "QBB_HTTP_PORT": str(port),
        "QBB_PUBLIC_BASE_URL": f"http://127.0.0.1:{public_port}",
        "QBB_INTUIT_CLIENT_ID": app["client_id"],
        "QBB_INTUIT_CLIENT_SECRET": app["client_secret"],
        "QBB_INTUIT_DISCOVERY_URL": f"{infra['sandbox_url']}/.well-known/openid_sandbox_configuration",
        "QBB_QBO_API_BASE": infra["sandbox_url"],
        "QBB_TOKEN_ENCRYPTION_KEYS": key,
        "QBB_REFRESH_SCAN_INTERVAL_SECONDS": "3600",
    }


async def _wait_healthy(client: httpx.AsyncClient, url: str, process: subprocess.Popen[bytes]) -> None:
    async with asyncio.timeout(60):
        while True:
            assert process.poll() is None, f"auth process for {url} exited with {process.returncode}"
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)


def _spawn(env: dict[str, str], output: IO[bytes]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "services.auth"]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
    )


@contextlib.asynccontextmanager
async def auth_processes(count: int, tmp_path: Path, **infra: str) -> AsyncIterator[Cluster]:
    """``count`` real ``python -m services.auth`` processes sharing the test database and one Intuit app."""
    ports = [free_port() for _ in range(count)]
    key = Fernet.generate_key().decode()
    processes: list[subprocess.Popen[bytes]] = []
    files: list[IO[bytes]] = []
    async with httpx.AsyncClient(base_url=infra["sandbox_url"], timeout=10) as sandbox:
        app = await create_app(sandbox, redirect_uris=[f"http://127.0.0.1:{ports[0]}/v1/oauth/callback"])
        logs = [tmp_path / f"auth-{i}.log" for i in range(count)]
        try:
            for port, log in zip(ports, logs, strict=True):
                files.append(log.open("wb"))
                env = _environment(port=port, public_port=ports[0], app=app, key=key, **infra)
                processes.append(_spawn(env, files[-1]))
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            async with httpx.AsyncClient(timeout=5) as probe:
                for url, process in zip(urls, processes, strict=True):
                    await _wait_healthy(probe, url, process)
            yield Cluster(urls, app, sandbox, TokenCipher((key,)), logs)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                await asyncio.to_thread(process.wait, 30)
            for file in files:
                file.close()
            await delete_namespace(infra["amqp_url"], infra["namespace"], [handlers.router])


async def _connect(cluster: Cluster, http: httpx.AsyncClient) -> tuple[str, str, str]:
    """Connect a new company through the first process; returns (connection id, realm id, callback URL)."""
    realm_id = await create_company(cluster.sandbox, seed="minimal")
    started = await http.post(
        f"{cluster.urls[0]}/v1/connections", json={"tenant_id": tenant()}, headers=ADMIN
    )
    callback = await consent(started.json()["authorize_url"], realm_id=realm_id, browser=http)
    assert (await http.get(callback)).status_code == 200
    return started.json()["connection_id"], realm_id, callback


async def _expire_everywhere(cluster: Cluster, database_url: str, realm_id: str, connection_id: str) -> None:
    await cluster.sandbox.post("/admin/tokens/expire", json={"realm_id": realm_id, "kind": "access"})
    engine = create_engine(database_url, application_name="qbb-auth-tests", pool_size=1)
    try:
        await make_access_token_due(engine, connection_id)
    finally:
        await engine.dispose()


async def _token_calls(cluster: Cluster, realm_id: str) -> int:
    log = (await cluster.sandbox.get("/admin/requests", params={"realm_id": realm_id})).json()
    return sum(1 for call in log if call["path"] == "/oauth2/v1/tokens/bearer")


async def _works(cluster: Cluster, realm_id: str, token: str) -> bool:
    answer = await cluster.sandbox.get(
        f"/v3/company/{realm_id}/companyinfo/{realm_id}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    return answer.status_code == 200


@pytest.fixture
def infra(database_url: str, amqp_url: str, namespace: str, sandbox_url: str) -> dict[str, str]:
    return {
        "database_url": database_url,
        "amqp_url": amqp_url,
        "namespace": namespace,
        "sandbox_url": sandbox_url,
    }


async def test_50_concurrent_requests_over_3_processes_make_exactly_one_refresh(
    infra: dict[str, str], tmp_path: Path
) -> None:
    async with auth_processes(3, tmp_path, **infra) as cluster, httpx.AsyncClient(timeout=30) as http:
        connection_id, realm_id, _ = await _connect(cluster, http)
        old = (
            await http.get(
                f"{cluster.urls[1]}/internal/v1/connections/{connection_id}/access-token", headers=INTERNAL
            )
        ).json()["access_token"]
        await _expire_everywhere(cluster, infra["database_url"], realm_id, connection_id)
        calls_before = await _token_calls(cluster, realm_id)

        answers = await asyncio.gather(
            *(
                http.get(
                    f"{cluster.urls[i % 3]}/internal/v1/connections/{connection_id}/access-token",
                    headers=INTERNAL,
                )
                for i in range(50)
            )
        )

        assert [a.status_code for a in answers] == [200] * 50
        tokens = {a.json()["access_token"] for a in answers}
        assert await _token_calls(cluster, realm_id) == calls_before + 1
        assert tokens != {old}
        assert len(tokens) == 1
        assert all([await _works(cluster, realm_id, token) for token in tokens])
        assert not await _works(cluster, realm_id, old)


async def test_logs_of_a_whole_run_contain_no_token(infra: dict[str, str], tmp_path: Path) -> None:
    async with auth_processes(2, tmp_path, **infra) as cluster, httpx.AsyncClient(timeout=30) as http:
        connection_id, realm_id, callback = await _connect(cluster, http)
        token_url = f"{cluster.urls[1]}/internal/v1/connections/{connection_id}/access-token"
        seen = [(await http.get(token_url, headers=INTERNAL)).json()["access_token"]]
        await _expire_everywhere(cluster, infra["database_url"], realm_id, connection_id)
        seen.append((await http.get(token_url, headers=INTERNAL)).json()["access_token"])
        assert (
            await http.post(
                f"{cluster.urls[1]}/v1/connections/{connection_id}/refresh-profile", headers=ADMIN
            )
        ).status_code == 200
        engine = create_engine(infra["database_url"], application_name="qbb-auth-tests", pool_size=1)
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT * FROM auth.tokens WHERE connection_id = :c"), {"c": connection_id}
                )
            ).one()
        await engine.dispose()
        refresh_tokens = [cluster.cipher.decrypt(row.refresh_token_ciphertext)]
        if row.previous_refresh_token_ciphertext:
            refresh_tokens.append(cluster.cipher.decrypt(row.previous_refresh_token_ciphertext))
        assert (
            await http.delete(f"{cluster.urls[0]}/v1/connections/{connection_id}", headers=ADMIN)
        ).status_code == 204
        code = parse_qs(urlsplit(callback).query)["code"][0]
    logs = cluster.log_text()

    assert "access token refreshed" in logs  # the logs were captured and do speak of tokens
    assert "connection revoked" in logs
    for secret in [*seen, *refresh_tokens, code, cluster.app["client_secret"]]:
        assert secret not in logs
    assert "RT1-" not in logs
    assert "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0" not in logs
