"""The rules: one plan per object, versions, CDC windows, payments back, echo keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.webhooks import service
from services.webhooks.payloads import Change
from shared.contracts.bridge import QboPaymentReceived
from shared.contracts.internal import ReadPathCategory

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)


def change(
    qbo_id: str, operation: str, *, minutes: int = 0, entity: str = "Invoice", deleted: str | None = None
) -> Change:
    return Change("r1", entity, qbo_id, operation, T0 + timedelta(minutes=minutes), deleted_id=deleted)


def test_several_notifications_of_one_object_make_one_fetch() -> None:
    plans = service.plan_changes(
        [change("1", "Update", minutes=2), change("1", "Create"), change("2", "Update")]
    )
    assert [(p.qbo_id, p.operation, p.fetch) for p in plans] == [("1", "Create", True), ("2", "Update", True)]


def test_our_own_creation_is_recognised_without_a_fetch_only_when_nothing_else_rode_along() -> None:
    plans = service.plan_changes(
        [
            change("1", "Create"),
            change("2", "Create"),
            change("2", "Update", minutes=1),
            change("3", "Create"),
        ]
    )
    created_by = {("c1", "Invoice", "1"), ("c1", "Invoice", "2"), ("c2", "Invoice", "1")}

    one = service.own_creations(plans, connection_ids=["c1"], created_by=created_by)
    both = service.own_creations(plans, connection_ids=["c1", "c2"], created_by=created_by)
    other = service.own_creations(plans, connection_ids=["c2", "c3"], created_by=created_by)

    assert [p.qbo_id for p in one] == ["1"]  # 2 was changed after its creation; 3 is not ours
    assert [p.qbo_id for p in both] == ["1"]
    assert other == []  # c3 did not write it: a foreign change for that tenant, fetched


def test_a_creation_not_known_as_ours_waits_for_the_word_only_while_young_and_of_an_entity_written() -> None:
    plans = service.plan_changes(
        [
            change("1", "Create"),  # ours, known
            change("2", "Create"),  # young, not known yet: held
            change("3", "Create"),  # received too long ago: read now
            change("4", "Create"),
            change("4", "Update", minutes=1),  # changed after its creation: read now
            change("5", "Delete"),
            change("6", "Update"),
        ]
    )
    echoes = [p for p in plans if p.qbo_id == "1"]
    young = {("Invoice", i) for i in ("1", "2", "4", "5", "6")}

    held = service.awaiting_word(plans, echoes=echoes, young=young, written={"Invoice"})
    idle = service.awaiting_word(plans, echoes=echoes, young=young, written={"Payment"})

    assert [p.qbo_id for p in held] == ["2"]
    assert idle == []  # the bridge is not writing invoices to this company: none of ours can be on its way


def test_a_deletion_is_final_and_needs_no_fetch() -> None:
    (plan,) = service.plan_changes([change("1", "Update", minutes=5), change("1", "Delete", minutes=1)])
    assert (plan.operation, plan.fetch) == ("Delete", False)


def test_a_merge_also_deletes_the_merged_away_object() -> None:
    plans = service.plan_changes([change("58", "Merge", entity="Customer", deleted="61")])
    assert [(p.qbo_id, p.operation, p.fetch) for p in plans] == [
        ("58", "Merge", True),
        ("61", "Delete", False),
    ]


def test_versions_order_by_sync_token_then_time() -> None:
    old = service.version_of({"SyncToken": "2", "MetaData": {"LastUpdatedTime": "2026-01-01T10:00:00-08:00"}})
    new = service.version_of({"SyncToken": "3", "MetaData": {"LastUpdatedTime": "2026-01-01T09:00:00-08:00"}})
    assert old is not None
    assert new is not None
    assert old < new
    assert service.version_of({"SyncToken": "x"}) is None


def test_ids_are_fetched_in_few_queries_and_quoted() -> None:
    ids = [str(i) for i in range(150)] + ["it's"]
    statements = service.ids_queries("Customer", ids)
    assert len(statements) == 2
    assert statements[0].startswith("select * from Customer where Id in ('0', '1',")
    assert "'it\\'s'" in statements[1]
    assert "Active in (true, false)" in statements[0]


def test_cdc_within_thirty_days_else_reimport() -> None:
    now = T0 + timedelta(days=40)
    assert service.cdc_step(now - timedelta(days=3), now) == "cdc"
    assert service.cdc_step(now - timedelta(days=31), now) == "reimport"


def test_a_full_cdc_answer_counts_as_capped() -> None:
    assert service.capped({"Invoice": [{}] * 600, "Customer": [{}] * 400})
    assert not service.capped({"Invoice": [{}] * 999})


def test_cdc_operation_from_the_object() -> None:
    assert service.cdc_operation({"status": "Deleted", "Id": "1"}) == "Delete"
    assert service.cdc_operation({"SyncToken": "0"}) == "Create"
    assert service.cdc_operation({"SyncToken": "4"}) == "Update"


PAYMENT = {
    "Id": "77",
    "TxnDate": "2026-01-05",
    "TotalAmt": 362.07,
    "CurrencyRef": {"value": "USD"},
    "Line": [
        {"Amount": 300.0, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
        {"Amount": 62.07, "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]},
        {"Amount": 10, "LinkedTxn": [{"TxnId": "9", "TxnType": "CreditMemo"}]},
    ],
}


def test_a_payment_names_the_platform_invoices_it_pays() -> None:
    event = service.payment_received("Payment", PAYMENT, {"130": "inv_1"}, connection_id="c1")
    assert event is not None
    assert event.amount == Decimal("362.07")
    assert [(a.platform_invoice_id, a.qbo_invoice_id, a.amount) for a in event.applied_to] == [
        ("inv_1", "130", Decimal("300.0")),
        (None, "131", Decimal("62.07")),
    ]
    assert service.linked_document_ids("Payment", PAYMENT) == ["130", "131"]


def test_a_bill_payment_names_bills() -> None:
    bill_payment = {
        "Id": "5",
        "TxnDate": "2026-01-05",
        "TotalAmt": 50,
        "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": "40", "TxnType": "Bill"}]}],
    }
    event = service.payment_received("BillPayment", bill_payment, {"40": "bill_9"}, connection_id="c1")
    assert event is not None
    assert event.kind == "bill_payment"
    assert event.applied_to[0].platform_invoice_id == "bill_9"


def test_an_unapplied_payment_is_not_reported_as_received() -> None:
    assert service.payment_received("Payment", {**PAYMENT, "Line": []}, {}, connection_id="c1") is None
    assert service.payment_received("Invoice", PAYMENT, {}, connection_id="c1") is None


def test_object_types_of_sync_results_map_to_entities() -> None:
    assert service.entity_of_object_type("credit_note") == "CreditMemo"
    assert service.entity_of_object_type("invoice") == "Invoice"
    assert service.entity_of_object_type("purchase_order") == "PurchaseOrder"
    assert service.entity_of_object_type("customer") == "Customer"


def _payment_event_id(payment: QboPaymentReceived) -> str:
    return service.payment_event_id(tenant_id="t1", realm_id="r1", entity="Payment", payment=payment)


def test_one_payment_version_has_one_event_id_and_the_next_version_another() -> None:
    first = service.payment_received("Payment", {**PAYMENT, "SyncToken": "0"}, {}, connection_id="c1")
    again = service.payment_received("Payment", {**PAYMENT, "SyncToken": "0"}, {}, connection_id="c1")
    edited = service.payment_received("Payment", {**PAYMENT, "SyncToken": "1"}, {}, connection_id="c1")
    assert first is not None
    assert again is not None
    assert edited is not None
    assert _payment_event_id(first) == _payment_event_id(again) != _payment_event_id(edited)
    assert edited.sync_token == "1"
    other_tenant = service.payment_event_id(tenant_id="t2", realm_id="r1", entity="Payment", payment=first)
    bill_payment = service.payment_event_id(
        tenant_id="t1", realm_id="r1", entity="BillPayment", payment=first
    )
    assert len({_payment_event_id(first), other_tenant, bill_payment}) == 3


def test_a_voided_payment_reports_zero_amounts_against_the_same_documents() -> None:
    voided_data = {
        **PAYMENT,
        "SyncToken": "2",
        "TotalAmt": 0,
        "PrivateNote": "Voided",
        "Line": [{**line, "Amount": 0} for line in PAYMENT["Line"]],  # type: ignore[attr-defined]
    }
    voided = service.payment_received("Payment", voided_data, {"130": "inv_1"}, connection_id="c1")
    assert voided is not None
    assert (voided.status, voided.amount) == ("voided", Decimal("0"))
    assert [(a.qbo_invoice_id, a.amount) for a in voided.applied_to] == [("130", ZERO), ("131", ZERO)]


def test_a_deleted_payment_is_its_last_report_with_amounts_zero_and_no_version() -> None:
    last = service.payment_received(
        "Payment", {**PAYMENT, "SyncToken": "3"}, {"130": "inv_1"}, connection_id="c1"
    )
    assert last is not None
    deleted = service.payment_deleted(last.model_dump(mode="json"))
    assert (deleted.status, deleted.amount, deleted.sync_token) == ("deleted", Decimal("0"), None)
    assert [(a.platform_invoice_id, a.amount) for a in deleted.applied_to] == [("inv_1", ZERO), (None, ZERO)]
    assert _payment_event_id(deleted) != _payment_event_id(last)


def test_a_reported_payment_whose_links_are_gone_takes_the_documents_back() -> None:
    last = service.payment_received("Payment", {**PAYMENT, "SyncToken": "0"}, {}, connection_id="c1")
    assert last is not None
    unlinked = {**PAYMENT, "SyncToken": "1", "Line": []}
    now = service.payment_received(
        "Payment", unlinked, {}, connection_id="c1", previous=last.model_dump(mode="json")
    )
    assert now is not None
    assert now.status == "received"
    assert [(a.qbo_invoice_id, a.amount) for a in now.applied_to] == [("130", ZERO), ("131", ZERO)]


def _customer(**fields: object) -> dict[str, object]:
    return {"Id": "58", "DisplayName": "Fit-out", "FullyQualifiedName": "Acme:Fit-out", **fields}


def test_a_project_names_its_client_and_the_clients_platform_id() -> None:
    data = _customer(IsProject=True, Job=True, ParentRef={"value": "7", "name": "Acme"})

    project = service.project_changed(
        data, operation="Create", client_platform_id="cus_7", connection_id="c1", realm_id="r1"
    )

    assert project is not None
    assert (project.name, project.client_qbo_id, project.client_name) == ("Fit-out", "7", "Acme")
    assert project.client_platform_id == "cus_7"
    assert project.active


def test_a_plain_customer_or_a_sub_customer_is_no_project() -> None:
    for data in (_customer(), _customer(Job=True, ParentRef={"value": "7"}), _customer(IsProject=True)):
        assert service.project_client("Customer", data) is None
    assert service.project_client("Vendor", _customer(IsProject=True, ParentRef={"value": "7"})) is None


def test_only_from_qbo_or_both_send_a_categorys_changes_back() -> None:
    def held(direction: str, enabled: bool = True) -> str | None:
        categories = {
            "customers": ReadPathCategory.model_validate({"direction": direction, "enabled": enabled})
        }
        return service.withheld("Customer", {"Id": "1"}, categories)

    assert held("from_qbo") is None
    assert held("both") is None
    assert "to QuickBooks only" in (held("to_qbo") or "")
    assert held("off") == "the customers category is turned off"
    assert held("from_qbo", enabled=False) == "the customers category is turned off"
    assert service.withheld("Customer", {}, {}) is not None  # defaults: to_qbo
    assert service.withheld("Account", {}, {}) is None  # no category governs accounts


def test_a_document_before_the_start_date_is_withheld() -> None:
    categories = {"bills": ReadPathCategory.model_validate({"direction": "both", "start_date": "2026-03-01"})}

    assert service.withheld("Bill", {"TxnDate": "2026-02-28"}, categories) == (
        "dated 2026-02-28, before the bills start date 2026-03-01"
    )
    assert service.withheld("BillPayment", {"TxnDate": "2026-03-01"}, categories) is None
    assert service.withheld("Bill", None, categories) is None  # a deletion has no date
