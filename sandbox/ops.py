"""Write operations on a company: create, full/sparse update, delete, void (all rules applied)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox import faults, inventory, money, rates, store
from sandbox.faults import QboError
from sandbox.rules import banking, common, links, lists, other, txns
from sandbox.specs import SPECS, Spec
from sandbox.state import Company

# [U] Making a list entity inactive is what QBO reports as its "Delete" webhook operation.
INACTIVATE_NOTIFIES_DELETE = True
# [U] Applying a payment is an update of the invoice (SyncToken + 1, webhook, CDC).
LINKED_CHANGE_BUMPS_TARGET = True
SERVER_FIELDS = ("Id", "SyncToken", "MetaData", "domain", "sparse", "status")
HAS_APPLIED_TEXT = "This transaction has payments applied to it. Remove the payments first."
PARTY_FIELD = {
    "Invoice": "CustomerRef",
    "CreditMemo": "CustomerRef",
    "Payment": "CustomerRef",
    "Bill": "VendorRef",
    "BillPayment": "VendorRef",
    "VendorCredit": "VendorRef",
}
# Entities whose open Balance is TotalAmt less what was applied to them.
OPEN_BALANCE = ("Invoice", "CreditMemo", "Bill", "VendorCredit")
CREDITS = ("CreditMemo", "VendorCredit")
# [U] A deposited payment may still change its memo fields; these would change the deposit.
DEPOSITED_FIXED = ("TotalAmt", "DepositToAccountRef", "CustomerRef", "CurrencyRef")


SIMPLE_RULES = {
    "Transfer": banking.prepare_transfer,
    "CreditCardPayment": banking.prepare_card_payment,
    "TimeActivity": other.prepare_time,
    "Attachable": other.prepare_attachable,
}


@dataclass(frozen=True)
class Change:
    entity: str
    entity_id: str
    operation: str  # Create | Update | Delete | Void


def spec_for(entity: str) -> Spec:
    spec = SPECS.get(entity)
    if spec is None:
        raise faults.unsupported(f"Unsupported Entity: {entity}")
    return spec


def create(
    company: Company,
    entity: str,
    body: dict[str, Any],
    *,
    allow_duplicate: bool = False,
    changes: list[Change],
) -> dict[str, Any]:
    spec = spec_for(entity)
    if not spec.creatable or spec.kind in ("singleton", "readonly"):
        raise faults.unsupported(f"Operation Create is not supported for {entity}")
    obj = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
    plan = _prepare(company, spec, obj, None, allow_duplicate=allow_duplicate)
    saved = store.insert(company, entity, obj)
    _commit_links(company, spec, saved, plan, changes)
    _settle(company, entity, saved, None)
    if entity == "CompanyCurrency":
        rates.record_market_rate(company, saved["Code"])
    changes.append(Change(entity, saved["Id"], "Create"))
    return saved


def current(company: Company, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """The stored object an update/delete/void names, with its SyncToken checked."""
    obj_id = body.get("Id")
    if obj_id in (None, ""):
        raise faults.required("Id")
    found = company.table(entity).get(str(obj_id))
    if found is None:
        raise faults.not_found(entity, str(obj_id))
    token = body.get("SyncToken")
    if token in (None, ""):
        raise faults.required("SyncToken")
    if str(token) != found.get("SyncToken"):
        raise faults.stale()
    return found


def update(
    company: Company,
    entity: str,
    body: dict[str, Any],
    *,
    allow_duplicate: bool = False,
    changes: list[Change],
) -> dict[str, Any]:
    spec = spec_for(entity)
    if spec.kind == "readonly" or not spec.updatable:
        raise faults.unsupported(f"Operation Update is not supported for {entity}")
    old = current(company, entity, body)
    incoming = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
    sparse = body.get("sparse") is True or body.get("sparse") == "true"
    obj = {**old, **incoming} if sparse else incoming
    for name in SERVER_FIELDS:
        obj.pop(name, None)
    obj["Id"] = old["Id"]
    if sparse:
        obj["sparse"] = True
    plan = _prepare(company, spec, obj, old, allow_duplicate=allow_duplicate)
    obj.pop("sparse", None)
    if (entity, old["Id"]) in company.deposited and any(
        _compared(obj.get(k)) != _compared(old.get(k)) for k in DEPOSITED_FIXED
    ):
        raise banking.deposited_error()
    _uncommit_links(company, spec, old, changes)
    saved = store.replace(company, entity, old, obj)
    _commit_links(company, spec, saved, plan, changes)
    _settle(company, entity, saved, old)
    operation = "Update"
    if INACTIVATE_NOTIFIES_DELETE and spec.kind == "list" and old.get("Active", True) and not saved["Active"]:
        operation = "Delete"
    changes.append(Change(entity, saved["Id"], operation))
    return saved


def delete(company: Company, entity: str, body: dict[str, Any], *, changes: list[Change]) -> dict[str, Any]:
    spec = spec_for(entity)
    if not spec.deletable:
        raise faults.unsupported(f"Operation Delete is not supported for {entity}")
    old = current(company, entity, body)
    _check_removable(company, entity, old)
    _uncommit_links(company, spec, old, changes)
    _settle(company, entity, None, old)
    store.remove(company, entity, old)
    changes.append(Change(entity, old["Id"], "Delete"))
    return {"status": "Deleted", "domain": "QBO", "Id": old["Id"]}


def void(
    company: Company, entity: str, body: dict[str, Any], *, style: str, changes: list[Change]
) -> dict[str, Any]:
    spec = spec_for(entity)
    if spec.void != style:
        raise faults.unsupported(f"Operation Void is not supported for {entity}")
    old = current(company, entity, body)
    _check_removable(company, entity, old)
    _uncommit_links(company, spec, old, changes)
    # A deep copy: voiding zeroes each line's Qty in place, and the old version must keep its own
    # (the stock it moved is given back from it).
    obj = copy.deepcopy({k: v for k, v in old.items() if k not in SERVER_FIELDS})
    txns.void_amounts(obj)
    saved = store.replace(company, entity, old, obj)
    _settle(company, entity, saved, old)
    changes.append(Change(entity, saved["Id"], "Void"))
    return saved


def _compared(value: object) -> object:
    # A reference is the same whatever name a client sends with its id.
    return value.get("value") if isinstance(value, dict) else value


def _check_removable(company: Company, entity: str, old: dict[str, Any]) -> None:
    common.check_period(company, old.get("TxnDate"))
    if company.applied.get((entity, old["Id"])):
        raise faults.business(HAS_APPLIED_TEXT)
    if (entity, old["Id"]) in company.deposited:
        raise banking.deposited_error()


def prepare_template(company: Company, spec: Spec, obj: dict[str, Any]) -> None:
    """A recurring template's rules: those of its transaction, with nothing applied or deposited."""
    _prepare(company, spec, obj, None, allow_duplicate=True)


def _prepare(
    company: Company, spec: Spec, obj: dict[str, Any], old: dict[str, Any] | None, *, allow_duplicate: bool
) -> links.Plan:
    name = spec.name
    if spec.kind == "list":
        lists.prepare(company, spec, obj, old)
    elif name in ("Payment", "BillPayment"):
        return links.prepare_payment(company, spec, obj, old)
    elif name == "JournalEntry":
        links.prepare_journal(company, spec, obj, old)
    elif name == "Deposit":
        return [
            (kind, txn_id, money.ZERO) for kind, txn_id in banking.prepare_deposit(company, spec, obj, old)
        ]
    elif name == "Purchase":
        banking.prepare_purchase(company, spec, obj, old, allow_duplicate=allow_duplicate)
    elif name in SIMPLE_RULES:
        SIMPLE_RULES[name](company, spec, obj, old)
    else:
        txns.prepare(company, spec, obj, old, allow_duplicate=allow_duplicate)
    return []


def _commit_links(
    company: Company, spec: Spec, saved: dict[str, Any], plan: links.Plan, changes: list[Change]
) -> None:
    payer_key = f"{spec.name}:{saved['Id']}"
    if spec.name == "Deposit":
        for kind, txn_id, _ in plan:
            company.deposited[(kind, txn_id)] = payer_key
        return
    for kind, txn_id, amount in plan:
        company.applied.setdefault((kind, txn_id), {})[payer_key] = amount
        _refresh_target(company, kind, txn_id, changes)


def _uncommit_links(company: Company, spec: Spec, old: dict[str, Any], changes: list[Change]) -> None:
    if spec.name == "Deposit":
        for key in [k for k, holder in company.deposited.items() if holder == f"Deposit:{old['Id']}"]:
            del company.deposited[key]
        return
    if spec.name not in ("Payment", "BillPayment"):
        return
    payer_key = f"{spec.name}:{old['Id']}"
    # The stored payment's own lines name every transaction it was applied to.
    targets = {
        (str(link.get("TxnType")), str(link.get("TxnId")))
        for line in old.get("Line") or ()
        for link in line.get("LinkedTxn") or ()
    }
    for key in targets:
        by_payer = company.applied.get(key)
        if by_payer is not None and by_payer.pop(payer_key, None) is not None:
            if not by_payer:
                del company.applied[key]
            _refresh_target(company, key[0], key[1], changes)


def _refresh_target(company: Company, kind: str, txn_id: str, changes: list[Change]) -> None:
    target = company.table(kind).get(txn_id)
    if target is None:
        return
    by_payer = company.applied.get((kind, txn_id), {})
    new = {k: v for k, v in target.items() if k not in SERVER_FIELDS}
    new["LinkedTxn"] = [{"TxnId": key.split(":")[1], "TxnType": key.split(":")[0]} for key in by_payer]
    if not new["LinkedTxn"]:
        del new["LinkedTxn"]
    new["Id"] = txn_id
    _settle_balance(company, kind, new)
    if LINKED_CHANGE_BUMPS_TARGET:
        saved = store.replace(company, kind, target, new)
        changes.append(Change(kind, txn_id, "Update"))
    else:
        target.update(new)
        saved = target
    _party_delta(company, kind, saved, target)


def _settle_balance(company: Company, entity: str, obj: dict[str, Any]) -> None:
    if entity not in (*OPEN_BALANCE, "SalesReceipt", "RefundReceipt"):
        return
    if entity in ("SalesReceipt", "RefundReceipt"):
        obj["Balance"] = money.ZERO
        return
    applied = sum(company.applied.get((entity, str(obj.get("Id"))), {}).values(), money.ZERO)
    deposit = money.parse(obj.get("Deposit"), "Deposit") or money.ZERO
    balance = Decimal(str(obj.get("TotalAmt", 0))) - applied - deposit
    if balance < 0:
        raise faults.business("The transaction total is less than the payments already applied to it.")
    obj["Balance"] = money.q2(balance)
    if obj.get("ExchangeRate") is not None:
        # A foreign-currency document's open balance in the home currency, at the document's own rate.
        obj["HomeBalance"] = money.q2(balance * Decimal(str(obj["ExchangeRate"])))
    if entity == "CreditMemo":
        obj["RemainingCredit"] = obj["Balance"]


def _settle(company: Company, entity: str, new: dict[str, Any] | None, old: dict[str, Any] | None) -> None:
    if new is not None:
        _settle_balance(company, entity, new)
    _party_delta(company, entity, new, old)
    inventory.move_stock(company, entity, new, old)


def _contribution(entity: str, obj: dict[str, Any] | None) -> Decimal:
    if obj is None:
        return money.ZERO
    if entity in ("Invoice", "Bill"):
        return Decimal(str(obj.get("Balance", 0)))
    if entity in CREDITS:
        return -Decimal(str(obj.get("Balance", 0)))
    if entity in ("Payment", "BillPayment"):
        return -Decimal(str(obj.get("UnappliedAmt", 0)))
    return money.ZERO


def _party_delta(
    company: Company, entity: str, new: dict[str, Any] | None, old: dict[str, Any] | None
) -> None:
    """Customer and vendor Balance follow their open transactions (no SyncToken change)."""
    field = PARTY_FIELD.get(entity)
    if field is None:
        return
    for obj, sign in ((old, -1), (new, 1)):
        amount = _contribution(entity, obj) * sign
        party_id = str(((obj or {}).get(field) or {}).get("value", ""))
        party_kind = "Customer" if field == "CustomerRef" else "Vendor"
        party = company.table(party_kind).get(party_id)
        own = True
        while amount and party is not None:
            if own:
                party["Balance"] = money.q2(Decimal(str(party.get("Balance", 0))) + amount)
                own = False
            if party_kind == "Customer":
                party["BalanceWithJobs"] = money.q2(Decimal(str(party.get("BalanceWithJobs", 0))) + amount)
            parent = party.get("ParentRef")
            party = company.table(party_kind).get(str(parent["value"])) if parent else None


def ensure_error(exc: Exception) -> QboError:
    return exc if isinstance(exc, QboError) else faults.system_fault()
