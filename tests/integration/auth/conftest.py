"""The auth service running in-process through the real runtime, against the sandbox, Postgres, RabbitMQ."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.auth import handlers
from services.auth.app import DEFINITION
from services.auth.crypto import TokenCipher
from services.auth.settings import AuthSettings
from shared.db import create_engine
from tests.helpers.broker import delete_namespace
from tests.helpers.running import serving
from tests.helpers.sandbox import create_app, create_company, free_port, unique

pytestmark = pytest.mark.integration

ADMIN_KEY = "dev-admin-key"
INTERNAL_TOKEN = "dev-internal-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
INTERNAL = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class Auth:
    """One running auth service and what a test needs to drive it."""

    url: str
    settings: AuthSettings
    app: dict[str, Any]
    http: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    engine: AsyncEngine
    cipher: TokenCipher
    extras: dict[str, Any] = field(default_factory=dict)


def auth_settings(
    *,
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox_url: str,
    app: dict[str, Any],
    port: int,
    **extra: Any,
) -> AuthSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "amqp_url": amqp_url,
        "amqp_namespace": namespace,
        "http_port": port,
        "environment": "test",
        "intuit_client_id": app["client_id"],
        "intuit_client_secret": SecretStr(app["client_secret"]),
        "intuit_discovery_url": f"{sandbox_url}/.well-known/openid_sandbox_configuration",
        "qbo_api_base": sandbox_url,
        "public_base_url": f"http://127.0.0.1:{port}",
        "token_encryption_keys": SecretStr(Fernet.generate_key().decode()),
        "refresh_scan_interval_seconds": 3600.0,
        **extra,
    }
    return AuthSettings.model_validate(values)


@contextlib.asynccontextmanager
async def serving_auth(settings: AuthSettings) -> AsyncIterator[None]:
    """The auth service in this event loop through the real runtime, until the block ends."""
    async with serving(DEFINITION, settings):
        yield


@contextlib.asynccontextmanager
async def running_auth(
    *, database_url: str, amqp_url: str, namespace: str, sandbox_url: str, **extra: Any
) -> AsyncIterator[Auth]:
    port = free_port()
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as sandbox:
        app = await create_app(sandbox, redirect_uris=[f"http://127.0.0.1:{port}/v1/oauth/callback"])
        settings = auth_settings(
            database_url=database_url,
            amqp_url=amqp_url,
            namespace=namespace,
            sandbox_url=sandbox_url,
            app=app,
            port=port,
            **extra,
        )
        engine = create_engine(database_url, application_name="qbb-auth-tests", pool_size=2)
        cipher = TokenCipher.from_setting(
            settings.token_encryption_keys.get_secret_value(), allow_dev_key=False
        )
        try:
            async with (
                serving_auth(settings),
                httpx.AsyncClient(base_url=settings.public_base_url, timeout=20) as http,
            ):
                yield Auth(settings.public_base_url, settings, app, http, sandbox, engine, cipher)
        finally:
            await engine.dispose()
            await delete_namespace(amqp_url, namespace, [handlers.router])


@pytest.fixture
async def auth(database_url: str, amqp_url: str, namespace: str, sandbox_url: str) -> AsyncIterator[Auth]:
    async with running_auth(
        database_url=database_url, amqp_url=amqp_url, namespace=namespace, sandbox_url=sandbox_url
    ) as running:
        yield running


def tenant() -> str:
    return unique("tenant")


async def new_company(auth: Auth, **overrides: Any) -> str:
    return await create_company(auth.sandbox, seed="minimal", **overrides)


async def start_connect(auth: Auth, tenant_id: str, **body: Any) -> dict[str, Any]:
    response = await auth.http.post("/v1/connections", json={"tenant_id": tenant_id, **body}, headers=ADMIN)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


async def consent(
    authorize_url: str, *, realm_id: str, browser: httpx.AsyncClient, action: str = "connect"
) -> str:
    """What a person does with the consent link in ``browser`` (which keeps auth's cookie, as a
    browser does): open it, pick the company, press Connect; returns the callback URL."""
    page = await browser.get(authorize_url, follow_redirects=True)
    assert page.status_code == 200, page.text
    form = dict(_HIDDEN.findall(page.text)) | {"realm_id": realm_id, "action": action}
    submitted = await browser.post(page.url.copy_with(query=None), data=form)
    assert submitted.status_code == 302, submitted.text
    return submitted.headers["location"]


async def connect(auth: Auth, tenant_id: str, realm_id: str, **body: Any) -> tuple[str, httpx.Response]:
    """The whole browser flow; returns the connection id and the callback's answer."""
    started = await start_connect(auth, tenant_id, **body)
    callback = await consent(started["authorize_url"], realm_id=realm_id, browser=auth.http)
    return started["connection_id"], await auth.http.get(callback)


async def connected(auth: Auth, realm_id: str | None = None, **body: Any) -> tuple[str, str, str]:
    """A tenant with an active connection to a new (or given) company: (tenant, realm, connection)."""
    tenant_id = tenant()
    realm_id = realm_id or await new_company(auth)
    connection_id, answer = await connect(auth, tenant_id, realm_id, **body)
    assert answer.status_code == 200, answer.text
    return tenant_id, realm_id, connection_id


async def tenant_key(auth: Auth, tenant_id: str) -> dict[str, str]:
    response = await auth.http.post(f"/v1/tenants/{tenant_id}/api-keys", headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def access_token(auth: Auth, connection_id: str, **params: Any) -> httpx.Response:
    return await auth.http.get(
        f"/internal/v1/connections/{connection_id}/access-token", headers=INTERNAL, params=params
    )


async def make_access_token_due(engine: AsyncEngine, connection_id: str) -> None:
    """Our record says the access token expired (the clock moving on, without waiting an hour)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE auth.tokens SET access_expires_at = now() - interval '1 minute' "
                "WHERE connection_id = :c"
            ),
            {"c": connection_id},
        )


async def token_calls(auth: Auth, realm_id: str) -> list[dict[str, Any]]:
    """The sandbox's log of calls to its token endpoint for this realm."""
    response = await auth.sandbox.get("/admin/requests", params={"realm_id": realm_id})
    response.raise_for_status()
    return [c for c in response.json() if c["path"] == "/oauth2/v1/tokens/bearer"]


async def company_info_status(auth: Auth, realm_id: str, token: str) -> int:
    response = await auth.sandbox.get(
        f"/v3/company/{realm_id}/companyinfo/{realm_id}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    return response.status_code


def new_id() -> str:
    return str(uuid.uuid4())
