"""Every golden payload, links resolved, is accepted by the sandbox (US, GB, CA and AU companies)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.mapper import service
from services.mapper.mapping import Target
from services.mapper.sync_settings import SyncSettings
from shared.contracts import CATALOGUE
from shared.contracts.internal import CompanyProfile
from tests.integration.mapper.qbo_writer import SandboxWriter, mirror_of, sandbox_company
from tests.unit.mapper import companies as c
from tests.unit.mapper.events import golden_events

pytestmark = pytest.mark.integration

# The order a platform's life would produce them in; voids and cancellations last.
ORDER = (
    "customer.upserted",
    "vendor.upserted",
    "item.upserted",
    "invoice.approved",
    "invoice.updated",
    "credit_note.issued",
    "payment.recorded",
    "refund.issued",
    "bill.approved",
    "bill.updated",
    "purchase_order.approved",
    "purchase_order.updated",
    "purchase_order.cancelled",
    "credit_note.voided",
    "bill.cancelled",
    "second_invoice",
    "invoice.voided",
)


@pytest.fixture
async def sandbox(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as client:
        yield client


def sandbox_settings(country: str) -> SyncSettings:
    extra: dict[str, Any] = {"payment_methods": {"names": {"Check": "Cheque"}}} if country != "US" else {}
    return c.settings(**extra)


def profile(country: str) -> CompanyProfile:
    return c.company(country, edition="QuickBooks Online Plus", custom_txn_numbers=True)


@pytest.mark.parametrize("country", ["US", "GB", "CA", "AU"])
async def test_every_golden_payload_is_accepted_by_the_sandbox(
    sandbox: httpx.AsyncClient, country: str
) -> None:
    realm, token = await sandbox_company(sandbox, country=country, custom_txn_numbers=True, seed="sample")
    writer = SandboxWriter(sandbox, realm, token)
    events: dict[str, Any] = golden_events(country)
    # A paid invoice cannot be voided (QBO 6000), so the void is exercised on an unpaid one.
    events["second_invoice"] = c.invoice(country, invoice_id="inv_2", number="INV-1002")
    events["invoice.voided"] = {"invoice_id": "inv_2", "number": "INV-1002"}
    target = Target("conn-accept", realm, profile(country))

    for event_type in ORDER:
        reference = await mirror_of(sandbox, realm)
        kind = "invoice.approved" if event_type == "second_invoice" else event_type
        data = CATALOGUE[kind].model.model_validate(events[event_type])
        commands = service.plan(
            kind,
            data,
            target=target,
            settings=sandbox_settings(country),
            reference=reference,
            source_event_id=f"evt-{event_type}",
        )
        for command in commands:
            await writer.apply(command)

    invoice = await writer.read("Invoice", writer.ids[("Invoice", "inv_2")])
    assert invoice["PrivateNote"].startswith("Voided")


line_sets = st.lists(
    st.tuples(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999"), places=2),
        st.sampled_from(["20.0% S", "5.0% R", "0.0% Z", "Exempt"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=line_sets, inclusive=st.booleans())
async def test_sandbox_totals_equal_platform_totals(
    sandbox: httpx.AsyncClient, lines: list[tuple[Decimal, str]], inclusive: bool
) -> None:
    realm, token = await _shared_company(sandbox)
    writer = SandboxWriter(sandbox, realm, token)
    platform_lines = [
        c.sales_line(quantity="2", unit_price=str(a / 2), amount=str(a), tax_rate=r) for a, r in lines
    ]
    data = CATALOGUE["invoice.approved"].model.model_validate(
        c.invoice("GB", random_id=True, number=None, lines=platform_lines, tax_inclusive=inclusive)
    )
    commands = service.plan(
        "invoice.approved",
        data,
        target=Target("c", realm, profile("GB")),
        settings=c.settings(create_missing_items=False, keep_platform_numbers=False),
        reference=await mirror_of(sandbox, realm),
        source_event_id="e",
    )

    for command in commands:
        written = await writer.apply(command)

    rates = dict(c.GB_RATES)
    expected = _platform_total([(a, Decimal(rates[r])) for a, r in lines], inclusive=inclusive)
    assert Decimal(str(written["TotalAmt"])) == expected


_COMPANY: dict[str, tuple[str, str]] = {}


async def _shared_company(sandbox: httpx.AsyncClient) -> tuple[str, str]:
    if str(sandbox.base_url) not in _COMPANY:
        _COMPANY[str(sandbox.base_url)] = await sandbox_company(sandbox, country="GB", seed="sample")
    return _COMPANY[str(sandbox.base_url)]


def _platform_total(lines: list[tuple[Decimal, Decimal]], *, inclusive: bool) -> Decimal:
    per_rate: dict[Decimal, Decimal] = {}
    for amount, pct in lines:
        per_rate[pct] = per_rate.get(pct, Decimal(0)) + (amount * 100 / (100 + pct) if inclusive else amount)
    subtotal = sum((a for a, _ in lines), Decimal(0))
    tax = sum(
        ((b * p / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP") for p, b in per_rate.items()),
        Decimal(0),
    )
    return subtotal if inclusive else subtotal + tax
