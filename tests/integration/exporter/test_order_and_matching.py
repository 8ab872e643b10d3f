"""Exactly one correct record whatever the order: writes to one object in event-time order, the jobs
of one event in sequence, matching that never adopts a stranger, waits that end, no needless writes."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx
from aio_pika.abc import AbstractChannel
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts import decode_data
from shared.contracts.bridge import SyncFailed
from shared.contracts.envelope import Envelope
from tests.helpers.broker import bind_probe, envelopes, publish
from tests.integration.exporter.kit import (
    Conn,
    FakeAuth,
    Grant,
    announce,
    announce_revoked,
    connect_realm,
    customer,
    entities,
    export,
    requests_log,
    serving_exporter,
    settings_for,
    uid,
    wait_for_jobs,
)

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _line(item_id: str, amount: float) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": amount},
    }


def invoice(
    conn: Conn,
    *,
    item_id: str,
    platform_id: str,
    customer_id: str,
    number: str | None = None,
    amount: float = 20.0,
    operation: str = "create",
    event_time: dt.datetime | None = None,
) -> Envelope:
    """An invoice export as the mapper makes it: kept number matched by party and total."""
    party = {"$link": {"entity": "Customer", "platform_id": customer_id}}
    payload: dict[str, Any] = {"CustomerRef": party, "Line": [_line(item_id, amount)]}
    match = None
    if number is not None:
        payload["DocNumber"] = number
        match = {"field": "DocNumber", "value": number, "party_field": "CustomerRef", "party": party}
        match["total"] = f"{amount:.2f}"
    return export(
        conn,
        entity="Invoice",
        platform_id=platform_id,
        operation=operation,
        payload=payload,
        match=match,
        event_time=event_time,
    )


def void(conn: Conn, platform_id: str, *, event_time: dt.datetime | None = None) -> Envelope:
    return export(conn, entity="Invoice", platform_id=platform_id, operation="void", event_time=event_time)


async def _item(sandbox: httpx.AsyncClient, conn: Conn) -> str:
    return str((await entities(sandbox, conn.realm_id, "Item"))[0]["Id"])


async def _invoice_of(sandbox: httpx.AsyncClient, conn: Conn, qbo_id: str) -> dict[str, Any]:
    return next(i for i in await entities(sandbox, conn.realm_id, "Invoice") if i["Id"] == qbo_id)


async def test_an_invoice_numbered_like_another_customers_is_refused_and_that_invoice_is_never_touched(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url, wait_limit_seconds=2.0)
    async with serving_exporter(settings):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine, custom_txn_numbers=True)
        item, number = await _item(sandbox, conn), uid("N")[:20]
        probe = await bind_probe(channel, namespace, ["sync.failed"])
        for name in ("cus_a", "cus_b"):
            await publish(channel, namespace, customer(conn, name=uid(name), platform_id=name))
        theirs = invoice(conn, item_id=item, platform_id="inv_a", customer_id="cus_a", number=number)
        await publish(channel, namespace, theirs)
        await wait_for_jobs(engine, conn.connection_id, count=3)
        ours = invoice(
            conn, item_id=item, platform_id="inv_b", customer_id="cus_b", number=number, amount=55.0
        )
        await publish(channel, namespace, ours)
        await publish(channel, namespace, void(conn, "inv_b"))  # a later void must not reach A's invoice
        jobs = await wait_for_jobs(engine, conn.connection_id, count=5, timeout=30)
        failed = await envelopes(probe, count=1, timeout=10)

    by_id = {j["platform_id"]: j for j in jobs if j["entity"] == "Invoice" and j["operation"] == "create"}
    assert by_id["inv_a"]["status"] == "succeeded"
    assert (by_id["inv_b"]["status"], by_id["inv_b"]["error_code"]) == ("failed", "doc_number_in_use")
    event = decode_data(failed[0])
    assert isinstance(event, SyncFailed)
    assert (event.platform_id, event.code) == ("inv_b", "doc_number_in_use")
    assert by_id["inv_a"]["qbo_id"] in event.message
    assert "another customer's" in event.message
    the_void = next(j for j in jobs if j["operation"] == "void")
    assert the_void["status"] == "skipped"  # nothing of ours to void
    stored = await _invoice_of(sandbox, conn, by_id["inv_a"]["qbo_id"])
    assert float(stored["TotalAmt"]) == 20.0  # A's invoice: neither adopted, changed nor voided


async def test_a_void_that_arrives_before_its_create_waits_for_it_then_voids_twenty_times_in_a_row(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        item = await _item(sandbox, conn)
        await publish(channel, namespace, customer(conn, platform_id="cus"))
        runs = [f"inv_{i}" for i in range(20)]
        for pid in runs:
            await publish(channel, namespace, void(conn, pid, event_time=at(2)))
        for pid in runs:
            await publish(
                channel,
                namespace,
                invoice(conn, item_id=item, platform_id=pid, customer_id="cus", event_time=at(1)),
            )
        jobs = await wait_for_jobs(engine, conn.connection_id, count=41, timeout=60)

    assert [j for j in jobs if j["status"] != "succeeded"] == []
    created = {
        j["platform_id"]: j["qbo_id"] for j in jobs if j["entity"] == "Invoice" and j["operation"] == "create"
    }
    stored = {i["Id"]: i for i in await entities(sandbox, conn.realm_id, "Invoice")}
    assert {pid: float(stored[qbo_id]["TotalAmt"]) for pid, qbo_id in created.items()} == {
        pid: 0.0 for pid in runs
    }


async def test_the_jobs_of_one_event_run_in_order_an_applied_credit_memo_is_voided_twenty_times_in_a_row(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        item = await _item(sandbox, conn)
        await publish(channel, namespace, customer(conn, platform_id="cus"))
        runs = [f"cn_{i}" for i in range(20)]
        for cn in runs:
            for envelope in _applied_credit_memo(conn, item, cn):
                await publish(channel, namespace, envelope)
        await wait_for_jobs(engine, conn.connection_id, count=1 + 3 * len(runs), timeout=60)
        for cn in runs:  # credit_note.voided: delete the applying payment, then void the credit memo
            event, applied = uid("evt"), f"{cn}:applied"
            first = [{"entity": "Payment", "platform_id": applied}]
            # Delivered in the wrong order on purpose: the void arrives before the delete it comes after.
            for envelope in (
                export(
                    conn,
                    entity="CreditMemo",
                    platform_id=cn,
                    operation="void",
                    source_event_id=event,
                    after=first,
                ),
                export(
                    conn,
                    entity="Payment",
                    platform_id=applied,
                    operation="delete",
                    source_event_id=event,
                    if_absent="skip",
                ),
            ):
                await publish(channel, namespace, envelope)
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1 + 5 * len(runs), timeout=90)

    assert [
        (j["platform_id"], j["operation"], j["last_error"]) for j in jobs if j["status"] != "succeeded"
    ] == []
    memos = {j["qbo_id"] for j in jobs if j["entity"] == "CreditMemo" and j["operation"] == "void"}
    stored = {m["Id"]: m for m in await entities(sandbox, conn.realm_id, "CreditMemo")}
    assert {float(stored[m]["TotalAmt"]) for m in memos} == {0.0}


def _applied_credit_memo(conn: Conn, item: str, cn: str) -> list[Envelope]:
    """An invoice, a credit memo, and the zero payment applying one to the other (as the mapper sends)."""
    event = uid("evt")
    cus = {"$link": {"entity": "Customer", "platform_id": "cus"}}
    linked = [
        {
            "Amount": 5.0,
            "LinkedTxn": [
                {
                    "TxnId": {"$link": {"entity": "Invoice", "platform_id": f"{cn}-inv", "as": "id"}},
                    "TxnType": "Invoice",
                }
            ],
        },
        {
            "Amount": 5.0,
            "LinkedTxn": [
                {
                    "TxnId": {"$link": {"entity": "CreditMemo", "platform_id": cn, "as": "id"}},
                    "TxnType": "CreditMemo",
                }
            ],
        },
    ]
    return [
        invoice(conn, item_id=item, platform_id=f"{cn}-inv", customer_id="cus"),
        export(
            conn,
            entity="CreditMemo",
            platform_id=cn,
            payload={"CustomerRef": cus, "Line": [_line(item, 5.0)]},
            source_event_id=event,
        ),
        export(
            conn,
            entity="Payment",
            platform_id=f"{cn}:applied",
            payload={"CustomerRef": cus, "TotalAmt": 0, "Line": linked},
            source_event_id=event,
        ),
    ]


async def test_a_documents_events_in_any_delivery_order_end_as_its_last_event_says(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    """Every delivery order (all permutations, so no order is left to chance) of create (t1), update
    (t2) and void (t3), and of create and update alone."""
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        item = await _item(sandbox, conn)
        await publish(channel, namespace, customer(conn, platform_id="cus"))

        def events(pid: str) -> dict[str, Envelope]:
            return {
                "create": invoice(
                    conn, item_id=item, platform_id=pid, customer_id="cus", amount=20.0, event_time=at(1)
                ),
                "update": invoice(
                    conn,
                    item_id=item,
                    platform_id=pid,
                    customer_id="cus",
                    amount=30.0,
                    operation="update",
                    event_time=at(2),
                ),
                "void": void(conn, pid, event_time=at(3)),
            }

        cases: dict[str, float] = {}
        for names, final in ((("create", "update", "void"), 0.0), (("create", "update"), 30.0)):
            for order in itertools.permutations(names):
                pid = uid("inv")
                cases[pid] = final
                for name in order:
                    await publish(channel, namespace, events(pid)[name])
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1 + 6 * 3 + 2 * 2, timeout=90)
    customer_id = next(j["qbo_id"] for j in jobs if j["entity"] == "Customer")

    assert [
        (j["platform_id"], j["operation"], j["status"], j["last_error"])
        for j in jobs
        if j["status"] == "failed"
    ] == []
    created = {
        j["platform_id"]: j["qbo_id"] for j in jobs if j["operation"] == "create" and j["entity"] == "Invoice"
    }
    stored = {i["Id"]: i for i in await entities(sandbox, conn.realm_id, "Invoice")}
    assert {pid: float(stored[created[pid]]["TotalAmt"]) for pid in cases} == cases
    ours = [i for i in stored.values() if i.get("CustomerRef", {}).get("value") == customer_id]
    assert len(ours) == len(cases)  # exactly one invoice per platform invoice


async def test_a_wait_for_a_dependency_that_never_comes_ends_in_sync_failed(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    settings = settings_for(database_url, amqp_url, namespace, auth_url=auth.url, wait_limit_seconds=1.5)
    async with serving_exporter(settings):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        probe = await bind_probe(channel, namespace, ["sync.failed"])
        await publish(channel, namespace, customer(conn, platform_id="cus"))
        line = {
            "Amount": 5.0,
            "LinkedTxn": [
                {
                    "TxnId": {"$link": {"entity": "Invoice", "platform_id": "never-written", "as": "id"}},
                    "TxnType": "Invoice",
                }
            ],
        }
        payload = {
            "CustomerRef": {"$link": {"entity": "Customer", "platform_id": "cus"}},
            "TotalAmt": 5.0,
            "Line": [line],
        }
        await publish(
            channel, namespace, export(conn, entity="Payment", platform_id="pay_1", payload=payload)
        )
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2, timeout=20)
        failed = await envelopes(probe, count=1, timeout=10)

    payment = next(j for j in jobs if j["entity"] == "Payment")
    assert (payment["status"], payment["error_code"]) == ("failed", "wait_expired")
    event = decode_data(failed[0])
    assert isinstance(event, SyncFailed)
    assert (event.platform_id, event.code) == ("pay_1", "wait_expired")
    assert "Invoice never-written" in event.message


async def test_jobs_parked_for_a_revoked_connection_resume_when_the_tenant_reconnects_under_a_new_id(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        old = await connect_realm(sandbox, auth, channel, namespace, engine)
        await publish(channel, namespace, customer(old, platform_id="cus_before"))
        await wait_for_jobs(engine, old.connection_id, count=1)
        await announce_revoked(channel, namespace, old, engine)
        await publish(channel, namespace, customer(old, platform_id="cus_during"))
        await wait_for_jobs(engine, old.connection_id, count=1, done=lambda j: j["status"] == "parked")
        new = Conn(uid("conn"), old.realm_id, old.tenant_id)  # the same company, a new connection
        grant = auth.grants[old.connection_id]
        auth.grants[new.connection_id] = Grant(**{**grant.__dict__, "status": "active"})
        await announce(channel, namespace, new, engine)
        # A re-sent create of the object written before the revocation must update, not duplicate.
        await publish(channel, namespace, customer(new, name=uid("Renamed"), platform_id="cus_before"))
        jobs = await wait_for_jobs(engine, new.connection_id, count=2, timeout=20)

    assert sorted((j["platform_id"], j["status"]) for j in jobs) == [
        ("cus_before", "succeeded"),
        ("cus_during", "succeeded"),
    ]
    names = [c["DisplayName"] for c in await entities(sandbox, old.realm_id, "Customer")]
    assert len([n for n in names if n.startswith(("Renamed", "Customer"))]) == 2


async def test_a_known_customer_is_not_rewritten_for_every_invoice(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine)
        name = uid("Loyal")
        for _ in range(4):  # each invoice of the customer ensures it, with the same data
            await publish(channel, namespace, customer(conn, name=name, platform_id="cus"))
            await wait_for_jobs(engine, conn.connection_id, count=_ + 1)
        await publish(
            channel,
            namespace,
            export(
                conn,
                platform_id="cus",
                payload={"DisplayName": name, "Notes": "VIP"},
                match=("DisplayName", name),
            ),
        )
        jobs = await wait_for_jobs(engine, conn.connection_id, count=5)
        log = await requests_log(sandbox, conn.realm_id)

    assert [j["status"] for j in jobs] == ["succeeded"] * 5
    writes = [r for r in log if r["operation"] not in ("query", "read") and "/customer" in r["path"].lower()]
    assert len(writes) == 2  # the create, then the one update when the platform's data changed


async def _made_in_qbo(
    sandbox: httpx.AsyncClient, conn: Conn, entity: str, body: dict[str, Any]
) -> dict[str, Any]:
    """An object a bookkeeper made in QBO's screens (before the bridge, say)."""
    answer = await sandbox.post(
        f"/admin/companies/{conn.realm_id}/act/{entity}", json={"operation": "create", "body": body}
    )
    answer.raise_for_status()
    made: dict[str, Any] = answer.json()[entity]
    return made


async def test_a_payment_names_an_invoice_from_before_the_bridge_by_number_and_only_its_customers(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine, custom_txn_numbers=True)
        item, number = await _item(sandbox, conn), uid("OLD")[:20]
        for name in ("cus_a", "cus_b"):
            await publish(channel, namespace, customer(conn, name=uid(name), platform_id=name))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2)
        qbo = {j["platform_id"]: j["qbo_id"] for j in jobs}
        # From before the connection: B's invoice numbered like the one A's payment names, and A's own.
        foreign = await _made_in_qbo(
            sandbox,
            conn,
            "Invoice",
            {"DocNumber": number, "CustomerRef": {"value": qbo["cus_b"]}, "Line": [_line(item, 70.0)]},
        )
        old = await _made_in_qbo(
            sandbox,
            conn,
            "Invoice",
            {"DocNumber": f"{number}A", "CustomerRef": {"value": qbo["cus_a"]}, "Line": [_line(item, 40.0)]},
        )
        for pid, named in (("pay_old", f"{number}A"), ("pay_wrong", number)):
            await publish(
                channel,
                namespace,
                export(conn, entity="Payment", platform_id=pid, payload=_paying("cus_a", named)),
            )
        jobs = await wait_for_jobs(engine, conn.connection_id, count=4)

    payments = {j["platform_id"]: j for j in jobs if j["entity"] == "Payment"}
    assert payments["pay_old"]["status"] == "succeeded"
    assert (payments["pay_wrong"]["status"], payments["pay_wrong"]["error_code"]) == (
        "failed",
        "link_not_found",
    )
    payment = next(
        p
        for p in await entities(sandbox, conn.realm_id, "Payment")
        if p["Id"] == payments["pay_old"]["qbo_id"]
    )
    assert payment["Line"][0]["LinkedTxn"][0]["TxnId"] == old["Id"]
    invoices = {i["Id"]: i for i in await entities(sandbox, conn.realm_id, "Invoice")}
    assert float(invoices[old["Id"]]["Balance"]) == 25.0
    assert float(invoices[foreign["Id"]]["Balance"]) == 70.0  # another customer's: never paid by A


def _paying(customer_id: str, invoice_number: str) -> dict[str, Any]:
    """A payment of 15 by ``customer_id`` applied to its invoice numbered ``invoice_number`` (as the mapper
    maps ``applied_to[].invoice_number``)."""
    cus = {"$link": {"entity": "Customer", "platform_id": customer_id}}
    match = {"field": "DocNumber", "value": invoice_number, "party": cus}
    target = {"$link": {"entity": "Invoice", "match": match, "as": "id"}}
    line = {"Amount": 15.0, "LinkedTxn": [{"TxnId": target, "TxnType": "Invoice"}]}
    return {"CustomerRef": cus, "TotalAmt": 15.0, "Line": [line]}


async def test_an_invoice_from_before_the_bridge_with_the_same_customer_number_and_total_is_adopted(
    database_url: str,
    amqp_url: str,
    namespace: str,
    sandbox: httpx.AsyncClient,
    auth: FakeAuth,
    channel: AbstractChannel,
    engine: AsyncEngine,
) -> None:
    async with serving_exporter(settings_for(database_url, amqp_url, namespace, auth_url=auth.url)):
        conn = await connect_realm(sandbox, auth, channel, namespace, engine, custom_txn_numbers=True)
        item, number = await _item(sandbox, conn), uid("SAME")[:20]
        await publish(channel, namespace, customer(conn, name=uid("cus"), platform_id="cus"))
        jobs = await wait_for_jobs(engine, conn.connection_id, count=1)
        old = await _made_in_qbo(
            sandbox,
            conn,
            "Invoice",
            {"DocNumber": number, "CustomerRef": {"value": jobs[0]["qbo_id"]}, "Line": [_line(item, 20.0)]},
        )
        await publish(
            channel,
            namespace,
            invoice(conn, item_id=item, platform_id="inv", customer_id="cus", number=number),
        )
        jobs = await wait_for_jobs(engine, conn.connection_id, count=2)

    adopted = next(j for j in jobs if j["entity"] == "Invoice")
    assert (adopted["status"], adopted["qbo_id"]) == ("succeeded", old["Id"])
    assert (
        len([i for i in await entities(sandbox, conn.realm_id, "Invoice") if i.get("DocNumber") == number])
        == 1
    )
