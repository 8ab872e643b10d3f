"""Bridge → platform events: outcomes of syncs and changes made in QuickBooks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.contracts.common import Contract, Id, IsoDate, Money

Operation = Literal["create", "update", "void", "delete", "link", "skipped"]


class SyncSucceeded(Contract):
    """The event's write is done: made, adopted (``link``), or not needed (``skipped``, with ``reason``:
    a void of something never in QBO, an event older than one already applied)."""

    object_type: str
    platform_id: Id
    qbo_id: str | None = None
    qbo_doc_number: str | None = None
    qbo_sync_token: str | None = None
    operation: Operation
    source_event_id: Id
    connection_id: str | None = None
    reason: str | None = None


class SyncProblem(Contract):
    """``sync.failed`` (QBO refused or could not be reached) and ``sync.rejected`` (refused before QBO)."""

    object_type: str
    platform_id: str | None = None
    source_event_id: Id
    code: str
    message: str = Field(description="What is wrong, in words a person can act on")
    hint: str = ""
    qbo_fault: dict[str, Any] | None = None
    retryable: bool = False
    connection_id: str | None = None
    problems: list[dict[str, str]] = Field(default_factory=list, description="Field-level problems")


class SyncFailed(SyncProblem):
    pass


class SyncRejected(SyncProblem):
    pass


class AppliedTo(Contract):
    platform_invoice_id: str | None = None
    qbo_invoice_id: str
    amount: Money


class QboPaymentReceived(Contract):
    """``qbo.payment.received``: the current state of one payment in QBO, one event per version.

    The event id is derived from (tenant, realm, entity, ``qbo_id``, ``sync_token``), so the same
    version is always the same event. A newer version of a payment (same ``qbo_id``) replaces the
    earlier one; it is never added to it.
    """

    qbo_id: str
    amount: Money
    date: IsoDate
    currency: str | None = None
    connection_id: str | None = None
    applied_to: list[AppliedTo] = Field(default_factory=list)
    kind: Literal["payment", "bill_payment"] = "payment"
    status: Literal["received", "voided", "deleted"] = Field(
        default="received",
        description="voided: the payment stays in QBO with every amount 0; deleted: it is gone (amounts 0)",
    )
    sync_token: str | None = Field(
        default=None, description="QBO's version of the payment (grows with each edit); absent when deleted"
    )


class QboEntityChanged(Contract):
    """``qbo.<entity>.changed``: the full QBO object, absent on Delete."""

    entity: str
    qbo_id: str
    operation: Literal["Create", "Update", "Delete", "Merge", "Void", "Emailed", "Import"]
    entity_data: dict[str, Any] | None = None
    connection_id: str | None = None
    realm_id: str | None = None


class QboProjectChanged(Contract):
    """``qbo.project.changed``: a project in QBO (a Customer with ``IsProject`` under its client).

    The platform matches it to its own project by ``name`` and client: ``client_platform_id`` is the
    platform's id of the client when the bridge wrote or linked that customer, else absent (then
    ``client_qbo_id`` and ``client_name`` say who the client is).
    """

    qbo_id: str
    operation: Literal["Create", "Update", "Merge", "Import"]
    name: str
    active: bool = True
    client_qbo_id: str
    client_name: str | None = None
    client_platform_id: str | None = None
    connection_id: str | None = None
    realm_id: str | None = None
    entity_data: dict[str, Any] = Field(default_factory=dict, description="The project's full QBO Customer")
