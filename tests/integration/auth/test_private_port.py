"""Admin and internal routes on a port of their own (QBB_PRIVATE_HTTP_PORT)."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.sandbox import free_port
from tests.integration.auth.conftest import ADMIN, INTERNAL, running_auth, tenant

pytestmark = pytest.mark.integration


async def test_admin_and_internal_routes_answer_only_on_the_private_port(
    database_url: str, amqp_url: str, namespace: str, sandbox_url: str
) -> None:
    private = free_port()
    async with (
        running_auth(
            database_url=database_url,
            amqp_url=amqp_url,
            namespace=namespace,
            sandbox_url=sandbox_url,
            private_http_port=private,
        ) as auth,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{private}", timeout=10) as inside,
    ):
        tenant_id = tenant()
        key_outside = await auth.http.post(f"/v1/tenants/{tenant_id}/api-keys", headers=ADMIN)
        token_outside = await auth.http.get(
            "/internal/v1/connections/00000000-0000-0000-0000-000000000000/access-token", headers=INTERNAL
        )
        key_inside = await inside.post(f"/v1/tenants/{tenant_id}/api-keys", headers=ADMIN)
        token_inside = await inside.get(
            "/internal/v1/connections/00000000-0000-0000-0000-000000000000/access-token", headers=INTERNAL
        )
        public_outside = await auth.http.get("/v1/connections", headers=ADMIN)
        public_inside = await inside.get("/v1/connections", headers=ADMIN)
        health_inside = await inside.get("/healthz")

    assert key_outside.status_code == 404
    assert token_outside.status_code == 404
    assert key_inside.status_code == 201
    assert token_inside.status_code == 404  # reached: no such connection
    assert token_inside.json()["detail"] == "no such connection"
    assert public_outside.status_code == 200
    assert public_inside.status_code == 404
    assert health_inside.status_code == 200
