"""The seeded load of ``make chaos``: invoice stories, and what each one must end as in QBO.

A story is one platform invoice's events in event-time order: its ``invoice.approved``, maybe an
``invoice.updated`` with other lines, then maybe an ``invoice.voided`` or a ``payment.recorded``
applied to it. The delivery order is the event order, except that some stories deliver their
second event first (update before create, void before create), and some events are delivered
twice (same id). The model of what the events mean is the story's expectation: the invoice exists
once, with the lines of its latest event, or voided; its payment exists once, applied to it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.pipeline_bench import invoice_data
from scripts.journey import Tenant, event
from shared.contracts.envelope import Envelope

SOURCE = "chaos-platform"
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Story:
    """One invoice's events and what QBO must show at the end."""

    tenant: Tenant
    number: str
    events: list[Envelope] = field(default_factory=list)  # event-time order
    delivery: list[Envelope] = field(default_factory=list)  # as sent (repeats and swaps included)
    subtotal: Decimal = Decimal(0)  # of the latest approved/updated lines
    voided: bool = False
    paid: Decimal | None = None  # the payment applied to it, if any
    payment_id: str | None = None
    swapped: str | None = None  # "updated" or "voided" when that one was delivered before the create

    @property
    def invoice_id(self) -> str:
        return f"inv_{self.number}"

    def object_of(self, envelope: Envelope) -> str:
        """The object an event's outcome is about (its customer's outcomes aside)."""
        return "payment" if envelope.type == "payment.recorded" else "invoice"


def _lines(rng: random.Random) -> list[dict[str, Any]]:
    lines = []
    for _ in range(rng.randint(1, 4)):
        qty, price = rng.randint(1, 9), Decimal(rng.randint(100, 99999)) / 100
        amount = str(qty * price)
        lines.append(
            {"description": "Work", "quantity": str(qty), "unit_price": str(price), "amount": amount}
        )
    return [line | {"tax_rate": "California"} for line in lines]


def _subtotal(lines: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(line["amount"]) for line in lines), Decimal(0))


def _at(envelope: Envelope, when: datetime) -> Envelope:
    return envelope.model_copy(update={"time": when})


# Shapes every run has at least once per tenant (the rest are drawn): the out-of-order pairs and a
# payment, so a small run exercises them too.
SHAPES = ("void-before-create", "update-before-create", "payment")


def story(
    rng: random.Random, tenant: Tenant, number: str, start: datetime, shape: str | None = None
) -> Story:
    """One seeded story: create, then maybe update, then maybe void or a payment; ``shape`` (one of
    ``SHAPES``) forces that story's kind instead of drawing it."""
    s = Story(tenant, number)
    data = invoice_data(number=number, code=f"C{rng.randrange(5)}") | {"lines": _lines(rng)}
    s.events.append(_at(event("invoice.approved", data, tenant=tenant, source=SOURCE), start))
    s.subtotal = _subtotal(data["lines"])
    smallest = s.subtotal
    update = rng.random() < 0.35 if shape is None else shape == "update-before-create"
    if update:
        updated = data | {"lines": _lines(rng)}
        s.events.append(
            _at(event("invoice.updated", updated, tenant=tenant, source=SOURCE), start + timedelta(seconds=1))
        )
        s.subtotal = _subtotal(updated["lines"])
        smallest = min(smallest, s.subtotal)
    roll = rng.random()
    if shape is not None:
        roll = {"void-before-create": 0.0, "payment": 0.3}.get(shape, 1.0)
    if roll < 0.15:
        voided = {"invoice_id": s.invoice_id, "number": number}
        s.events.append(
            _at(event("invoice.voided", voided, tenant=tenant, source=SOURCE), start + timedelta(seconds=2))
        )
        s.voided = True
    elif roll < 0.45:
        # Half the smallest subtotal: never more than the invoice's balance whichever lines win.
        s.paid, s.payment_id = (smallest / 2).quantize(Decimal("0.01")), f"pay_{number}"
        payment = {
            "payment_id": s.payment_id,
            "date": "2026-11-25",
            "amount": str(s.paid),
            "customer": {"code": data["customer"]["code"]},
            "applied_to": [{"invoice_id": s.invoice_id, "amount": str(s.paid)}],
        }
        s.events.append(
            _at(
                event("payment.recorded", payment, tenant=tenant, source=SOURCE), start + timedelta(seconds=3)
            )
        )
    s.delivery = list(s.events)
    second = s.events[1].type if len(s.events) > 1 else ""
    swap = rng.random() < 0.25 if shape is None else shape.endswith("-before-create")
    if second in ("invoice.updated", "invoice.voided") and swap:
        s.delivery[0], s.delivery[1] = s.delivery[1], s.delivery[0]
        s.swapped = second.removeprefix("invoice.")
    for envelope in list(s.delivery):
        if rng.random() < 0.1:
            s.delivery.insert(s.delivery.index(envelope) + 1, envelope)
    return s


def stories(seed: int, tenants: list[Tenant], per_tenant: int) -> list[Story]:
    rng = random.Random(seed)
    return [
        story(
            rng,
            tenant,
            f"CH{seed}-{i}-{n}",
            EPOCH + timedelta(minutes=n * len(tenants) + i),
            shape=SHAPES[n] if n < len(SHAPES) else None,
        )
        for n in range(per_tenant)
        for i, tenant in enumerate(tenants)
    ]


def continued(seed: int, tenants: list[Tenant], per_tenant: int) -> Iterator[Story]:
    """Stories after the planned ``per_tenant`` rounds, tenant by tenant, without end: the load that
    keeps flowing while the crash phases run (numbers continue those of ``stories``)."""
    rng = random.Random(seed + 13)
    n = per_tenant
    while True:
        for i, tenant in enumerate(tenants):
            yield story(rng, tenant, f"CH{seed}-{i}-{n}", EPOCH + timedelta(minutes=n * len(tenants) + i))
        n += 1


def delivery_plan(all_stories: list[Story], seed: int) -> list[Envelope]:
    """Every story's deliveries, interleaved (each story keeps its own order)."""
    rng = random.Random(seed + 7)
    queues = [list(s.delivery) for s in all_stories]
    plan: list[Envelope] = []
    while any(queues):
        waiting = [q for q in queues if q]
        # Mostly the oldest stories first, so a story's events come close together.
        q = waiting[min(int(rng.expovariate(0.5)), len(waiting) - 1)]
        plan.append(q.pop(0))
    return plan


def figures(all_stories: list[Story]) -> dict[str, Any]:
    """What the load was made of, by kind."""
    by_type: dict[str, int] = {}
    for s in all_stories:
        for e in s.events:
            by_type[e.type] = by_type.get(e.type, 0) + 1
    return {
        "stories": len(all_stories),
        "events_by_type": by_type,
        "deliveries": sum(len(s.delivery) for s in all_stories),
        "repeated_deliveries": sum(len(s.delivery) - len(s.events) for s in all_stories),
        "update_before_create": sum(1 for s in all_stories if s.swapped == "updated"),
        "void_before_create": sum(1 for s in all_stories if s.swapped == "voided"),
    }
