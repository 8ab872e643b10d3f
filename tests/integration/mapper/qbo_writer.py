"""A minimal stand-in for the exporter in mapper tests: applies export commands to the sandbox.

It resolves ``$link``s the way the contract says (platform id → the QBO id recorded when that
object was written; a match link by query), finds-or-creates on ``create`` with a match key, and
sends updates sparse with Id and SyncToken. It is deliberately naive: no retries, no ordering
beyond the order given.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from services.mapper.reference import MIRRORED, RefEntity, Reference
from shared.contracts.internal import ExportRequested
from shared.qbo.client import VOID_BY_UPDATE
from tests.helpers.sandbox import connect, create_app, create_company

# As the exporter does it: a list object is "deleted" by making it inactive (reference §2.7).
LIST_ENTITIES = frozenset({"Customer", "Vendor", "Item"})


async def sandbox_company(client: httpx.AsyncClient, **overrides: Any) -> tuple[str, str]:
    """(realm id, access token) of a new sandbox company."""
    realm = await create_company(client, **overrides)
    app = await create_app(client)
    tokens = await connect(client, app=app, realm_id=realm, redirect_uri=app["redirect_uris"][0])
    return realm, str(tokens["access_token"])


async def entities(client: httpx.AsyncClient, realm: str, entity: str) -> list[dict[str, Any]]:
    response = await client.get(f"/admin/companies/{realm}/entities/{entity}")
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


async def mirror_of(client: httpx.AsyncClient, realm: str) -> Reference:
    """What the webhooks service would import: every reference list of the company."""
    rows = []
    for entity in sorted(MIRRORED):
        rows += [RefEntity.from_qbo(entity, data) for data in await entities(client, realm, entity)]
    return Reference.of(rows)


class SandboxWriter:
    def __init__(self, client: httpx.AsyncClient, realm: str, token: str) -> None:
        self.client, self.realm = client, realm
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.ids: dict[tuple[str, str], str] = {}

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        # QBO throttles at 10 requests a second per realm and app (429, fault 3001); back off like a client.
        delay = 0.1
        for _ in range(8):
            response = await self.client.request(
                method, f"/v3/company/{self.realm}{path}", headers=self.headers, **kw
            )
            if response.status_code != 429:
                return response
            await asyncio.sleep(delay)
            delay *= 2
        return response

    async def _post(
        self, entity: str, body: dict[str, Any], operation: str | None = None, include: str | None = None
    ) -> dict[str, Any]:
        params = {"operation": operation} if operation else {}
        if include:
            params["include"] = include
        response = await self._send("POST", f"/{entity.lower()}", json=body, params=params)
        assert response.status_code == 200, f"{entity} {operation or 'create'} refused: {response.text}"
        found: dict[str, Any] = response.json()[entity]
        return found

    async def query_one(self, entity: str, field: str, value: str) -> dict[str, Any] | None:
        escaped = value.replace("'", "\\'")
        response = await self._send(
            "GET", "/query", params={"query": f"select * from {entity} where {field} = '{escaped}'"}
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["QueryResponse"].get(entity, [])
        return rows[0] if rows else None

    async def read(self, entity: str, qbo_id: str) -> dict[str, Any]:
        response = await self._send("GET", f"/{entity.lower()}/{qbo_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()[entity]
        return found

    async def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if "$link" in value:
                return await self._resolve_link(value["$link"])
            return {k: await self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.resolve(v) for v in value]
        return value

    async def _resolve_link(self, link: dict[str, Any]) -> Any:
        if "platform_id" in link:
            qbo_id = self.ids[(link["entity"], link["platform_id"])]
        else:
            found = await self.query_one(link["entity"], link["match"]["field"], link["match"]["value"])
            assert found is not None, f"no {link['entity']} matching {link['match']}"
            qbo_id = found["Id"]
        return qbo_id if link.get("as") == "id" else {"value": qbo_id}

    async def _existing(self, cmd: ExportRequested) -> dict[str, Any] | None:
        known = self.ids.get((cmd.entity, cmd.platform_id))
        if known is not None:
            return await self.read(cmd.entity, known)
        if cmd.match is not None:
            return await self.query_one(cmd.entity, cmd.match.field, cmd.match.value)
        return None

    async def apply(self, cmd: ExportRequested) -> dict[str, Any]:
        """Write one command; returns the QBO object as the sandbox answered."""
        payload = await self.resolve(cmd.payload)
        existing = await self._existing(cmd)
        if cmd.operation in ("delete", "void") and existing is None:
            return {}  # never written: nothing to remove
        written: dict[str, Any] | None
        if cmd.operation == "create" and existing is None:
            written = await self._post(cmd.entity, payload)
        elif cmd.operation == "create":
            written = existing
        else:
            assert existing is not None, f"nothing to {cmd.operation} for {cmd.entity} {cmd.platform_id}"
            keys = {"Id": existing["Id"], "SyncToken": existing["SyncToken"]}
            if cmd.operation == "update":
                written = await self._post(cmd.entity, {**payload, **keys, "sparse": True})
            elif cmd.operation == "delete" and cmd.entity in LIST_ENTITIES:
                written = await self._post(cmd.entity, {**keys, "sparse": True, "Active": False})
            elif cmd.operation == "void" and cmd.entity in VOID_BY_UPDATE:
                written = await self._post(cmd.entity, {**keys, "sparse": True}, "update", "void")
            else:
                written = await self._post(cmd.entity, keys, operation=cmd.operation)
        assert written is not None
        if cmd.operation == "delete" and cmd.entity not in LIST_ENTITIES:
            self.ids.pop((cmd.entity, cmd.platform_id), None)
            return written
        self.ids[(cmd.entity, cmd.platform_id)] = written["Id"]
        return written
