"""Bills and purchase orders with a location and per-line classes, accepted by the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.mapper import service
from services.mapper.mapping import Target
from shared.contracts import CATALOGUE
from tests.integration.mapper.qbo_writer import SandboxWriter, mirror_of, sandbox_company
from tests.unit.mapper import companies as c

pytestmark = pytest.mark.integration


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


async def made(sandbox: httpx.AsyncClient, realm: str, entity: str, name: str) -> str:
    reply = await sandbox.post(f"/admin/companies/{realm}/act/{entity}", json={"body": {"Name": name}})
    assert reply.status_code == 200, reply.text
    return str(reply.json()[entity]["Id"])


@pytest.mark.parametrize(("kind", "entity"), [("bill", "Bill"), ("purchase_order", "PurchaseOrder")])
async def test_a_purchase_lands_with_its_location_and_line_classes(
    sandbox: httpx.AsyncClient, kind: str, entity: str
) -> None:
    realm, token = await sandbox_company(
        sandbox, country="GB", class_tracking="per_line", track_departments=True, custom_txn_numbers=True
    )
    london, retail = (
        await made(sandbox, realm, "Department", "London"),
        await made(sandbox, realm, "Class", "Retail"),
    )
    lines: list[dict[str, Any]] = [
        {
            "description": "Paper",
            "account": "Office Expenses",
            "amount": "9.99",
            "tax_rate": "20.0% S",
            "class": "Retail",
        },
        {"description": "Ink", "account": "Office Expenses", "amount": "5.00", "tax_rate": "20.0% S"},
    ]
    data = c.purchase(kind, "GB", location="London", lines=lines)
    profile = c.company("GB", class_tracking="per_line", department_tracking=True)
    commands = service.plan(
        f"{kind}.approved",
        CATALOGUE[f"{kind}.approved"].model.model_validate(data),
        target=Target("conn-loc", realm, profile),
        settings=c.settings(classes={"enabled": True}, locations={"enabled": True}),
        reference=await mirror_of(sandbox, realm),
        source_event_id="evt-loc",
    )
    writer = SandboxWriter(sandbox, realm, token)
    for command in commands:
        written = await writer.apply(command)

    stored = await writer.read(entity, written["Id"])
    assert stored["DepartmentRef"]["value"] == london
    details = [line["AccountBasedExpenseLineDetail"] for line in stored["Line"]]
    assert [d.get("ClassRef", {}).get("value") for d in details] == [retail, None]
