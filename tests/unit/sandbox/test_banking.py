"""Purchase, Deposit, Transfer, CreditCardPayment and VendorCredit rules."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from sandbox import ops
from sandbox.faults import QboError
from sandbox.state import Company
from tests.unit.sandbox.factories import create, customer, first, make_company, sales_line

CHECKING, UNDEPOSITED, MASTERCARD, SUPPLIES, SERVICES_INCOME = "1", "3", "8", "18", "12"


def expense(amount: Any, account: str = SUPPLIES) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail": {"AccountRef": {"value": account}},
    }


def purchase(company: Company, kind: str, account: str, **extra: Any) -> dict[str, Any]:
    body = {"PaymentType": kind, "AccountRef": {"value": account}, "Line": [expense("40"), expense("2.5")]}
    return create(company, "Purchase", {**body, **extra})


def refused(company: Company, entity: str, body: dict[str, Any]) -> QboError:
    with pytest.raises(QboError) as caught:
        create(company, entity, body)
    return caught.value


def test_purchase_totals_its_expense_lines() -> None:
    company = make_company()

    saved = purchase(company, "Cash", CHECKING, EntityRef={"value": "1", "type": "Vendor"})

    assert saved["TotalAmt"] == Decimal("42.50")
    assert [line["LineNum"] for line in saved["Line"]] == [1, 2]
    assert saved["EntityRef"]["type"] == "Vendor"


def test_purchase_needs_payment_type_account_and_lines() -> None:
    company = make_company()

    for missing in ("PaymentType", "AccountRef", "Line"):
        body = {"PaymentType": "Cash", "AccountRef": {"value": CHECKING}, "Line": [expense(1)]}
        del body[missing]
        assert refused(company, "Purchase", body).code == "2020"


def test_credit_card_charge_must_be_paid_from_a_credit_card_account() -> None:
    company = make_company()

    error = refused(
        company,
        "Purchase",
        {"PaymentType": "CreditCard", "AccountRef": {"value": CHECKING}, "Line": [expense(5)]},
    )

    assert (error.code, error.element) == ("6000", "AccountRef")
    assert purchase(company, "CreditCard", MASTERCARD, Credit=True)["Credit"] is True


def test_a_check_is_written_on_a_bank_account_and_only_cards_take_credits() -> None:
    company = make_company()

    assert (
        refused(
            company,
            "Purchase",
            {"PaymentType": "Check", "AccountRef": {"value": MASTERCARD}, "Line": [expense(5)]},
        ).code
        == "6000"
    )
    error = refused(
        company,
        "Purchase",
        {"PaymentType": "Check", "AccountRef": {"value": CHECKING}, "Credit": True, "Line": [expense(5)]},
    )
    assert error.element == "Credit"


def test_unknown_payment_type_is_an_invalid_enumeration() -> None:
    company = make_company()

    error = refused(
        company,
        "Purchase",
        {"PaymentType": "Barter", "AccountRef": {"value": CHECKING}, "Line": [expense(5)]},
    )

    assert error.code == "2170"


def test_purchase_entity_must_exist_as_its_type() -> None:
    company = make_company()

    body = {"PaymentType": "Cash", "AccountRef": {"value": CHECKING}, "Line": [expense(5)]}
    assert (
        refused(company, "Purchase", {**body, "EntityRef": {"value": "999", "type": "Customer"}}).code
        == "2500"
    )
    assert (
        refused(company, "Purchase", {**body, "EntityRef": {"value": "1", "type": "Account"}}).code == "2170"
    )


def test_purchase_voids_like_a_payment_and_can_be_deleted() -> None:
    company = make_company()
    saved = purchase(company, "Cash", CHECKING)

    voided = ops.void(company, "Purchase", {"Id": saved["Id"], "SyncToken": "0"}, style="include", changes=[])

    assert voided["TotalAmt"] == 0
    assert voided["PrivateNote"] == "Voided"
    ops.delete(company, "Purchase", {"Id": saved["Id"], "SyncToken": "1"}, changes=[])
    assert saved["Id"] not in company.table("Purchase")


def payment(company: Company, total: str = "120") -> dict[str, Any]:
    return create(company, "Payment", {"CustomerRef": {"value": customer(company)["Id"]}, "TotalAmt": total})


def deposit(company: Company, lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return create(company, "Deposit", {"DepositToAccountRef": {"value": CHECKING}, "Line": lines, **extra})


def linked(txn: dict[str, Any], kind: str = "Payment", amount: Any = None) -> dict[str, Any]:
    return {
        "Amount": amount if amount is not None else txn["TotalAmt"],
        "LinkedTxn": [{"TxnId": txn["Id"], "TxnType": kind}],
    }


def other_funds(amount: Any) -> dict[str, Any]:
    return {
        "Amount": amount,
        "DetailType": "DepositLineDetail",
        "DepositLineDetail": {"AccountRef": {"value": SERVICES_INCOME}},
    }


def test_deposit_totals_payments_and_other_funds_less_cash_back() -> None:
    company = make_company()
    paid = payment(company)

    saved = deposit(
        company,
        [linked(paid), other_funds("30")],
        CashBack={"AccountRef": {"value": CHECKING}, "Amount": "10"},
    )

    assert saved["TotalAmt"] == Decimal("140.00")
    assert company.deposited == {("Payment", paid["Id"]): f"Deposit:{saved['Id']}"}


def test_a_deposited_payment_cannot_be_voided_deleted_or_re_amounted() -> None:
    company = make_company()
    paid = payment(company)
    deposit(company, [linked(paid)])
    body = {"Id": paid["Id"], "SyncToken": paid["SyncToken"]}

    attempts: list[Callable[[], object]] = [
        lambda: ops.void(company, "Payment", body, style="include", changes=[]),
        lambda: ops.delete(company, "Payment", body, changes=[]),
        lambda: ops.update(company, "Payment", {**body, "sparse": True, "TotalAmt": "99"}, changes=[]),
    ]
    for attempt in attempts:
        with pytest.raises(QboError) as caught:
            attempt()
        assert caught.value.code == "6540"
    named = {"value": paid["CustomerRef"]["value"], "name": "as the client names it"}
    memo = ops.update(
        company, "Payment", {**body, "sparse": True, "PrivateNote": "ok", "CustomerRef": named}, changes=[]
    )
    assert memo["PrivateNote"] == "ok"


def test_deleting_the_deposit_frees_its_payments() -> None:
    company = make_company()
    paid = payment(company)
    saved = deposit(company, [linked(paid)])

    ops.delete(company, "Deposit", {"Id": saved["Id"], "SyncToken": "0"}, changes=[])

    assert company.deposited == {}
    assert (
        ops.delete(company, "Payment", {"Id": paid["Id"], "SyncToken": "0"}, changes=[])["status"]
        == "Deleted"
    )


def test_a_payment_is_deposited_once_and_in_full() -> None:
    company = make_company()
    paid = payment(company)
    deposit(company, [linked(paid)])

    assert (
        refused(company, "Deposit", {"DepositToAccountRef": {"value": CHECKING}, "Line": [linked(paid)]}).code
        == "6000"
    )
    other = payment(company, "50")
    error = refused(
        company, "Deposit", {"DepositToAccountRef": {"value": CHECKING}, "Line": [linked(other, amount="20")]}
    )
    assert error.element == "Line.Amount"


def test_only_payments_held_in_undeposited_funds_can_be_deposited() -> None:
    company = make_company()
    cust = customer(company)["Id"]
    direct = create(
        company,
        "Payment",
        {"CustomerRef": {"value": cust}, "TotalAmt": "5", "DepositToAccountRef": {"value": CHECKING}},
    )

    assert (
        refused(
            company, "Deposit", {"DepositToAccountRef": {"value": CHECKING}, "Line": [linked(direct)]}
        ).code
        == "6000"
    )


def test_deposit_goes_to_a_bank_account_not_undeposited_funds() -> None:
    company = make_company()

    error = refused(
        company, "Deposit", {"DepositToAccountRef": {"value": UNDEPOSITED}, "Line": [other_funds(5)]}
    )

    assert error.element == "DepositToAccountRef"


def test_an_unlinked_deposit_line_needs_an_account() -> None:
    company = make_company()

    error = refused(
        company,
        "Deposit",
        {
            "DepositToAccountRef": {"value": CHECKING},
            "Line": [{"Amount": 5, "DetailType": "DepositLineDetail"}],
        },
    )

    assert (error.code, error.element) == ("2020", "Line.DepositLineDetail.AccountRef")


def test_transfer_moves_a_positive_amount_between_two_balance_sheet_accounts() -> None:
    company = make_company()

    saved = create(
        company,
        "Transfer",
        {"FromAccountRef": {"value": CHECKING}, "ToAccountRef": {"value": "2"}, "Amount": "250"},
    )

    assert saved["Amount"] == Decimal("250.00")
    for body in (
        {"FromAccountRef": {"value": CHECKING}, "ToAccountRef": {"value": CHECKING}, "Amount": "5"},
        {"FromAccountRef": {"value": CHECKING}, "ToAccountRef": {"value": "2"}, "Amount": "0"},
        {"FromAccountRef": {"value": CHECKING}, "ToAccountRef": {"value": SUPPLIES}, "Amount": "5"},
    ):
        assert refused(company, "Transfer", body).code == "6000"


def test_transfer_void_zeroes_its_amount() -> None:
    company = make_company()
    saved = create(
        company,
        "Transfer",
        {"FromAccountRef": {"value": CHECKING}, "ToAccountRef": {"value": "2"}, "Amount": "9"},
    )

    voided = ops.void(company, "Transfer", {"Id": saved["Id"], "SyncToken": "0"}, style="include", changes=[])

    assert voided["Amount"] == 0


def test_credit_card_payment_pays_a_card_from_a_bank() -> None:
    company = make_company()

    saved = create(
        company,
        "CreditCardPayment",
        {
            "CreditCardAccountRef": {"value": MASTERCARD},
            "BankAccountRef": {"value": CHECKING},
            "Amount": "80",
        },
    )

    assert saved["Amount"] == Decimal("80.00")
    swapped = {
        "CreditCardAccountRef": {"value": CHECKING},
        "BankAccountRef": {"value": MASTERCARD},
        "Amount": "80",
    }
    assert refused(company, "CreditCardPayment", swapped).element == "CreditCardAccountRef"


def test_vendor_credit_lowers_the_vendor_balance_and_a_bill_payment_can_apply_it() -> None:
    company = make_company()
    vendor = first(company, "Vendor", DisplayName="PG&E")
    bill = create(company, "Bill", {"VendorRef": {"value": vendor["Id"]}, "Line": [expense("100")]})
    credit = create(company, "VendorCredit", {"VendorRef": {"value": vendor["Id"]}, "Line": [expense("30")]})

    assert credit["Balance"] == credit["TotalAmt"] == Decimal("30.00")
    assert vendor["Balance"] == Decimal("70.00")
    create(
        company,
        "BillPayment",
        {
            "VendorRef": {"value": vendor["Id"]},
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": CHECKING}},
            "TotalAmt": "70",
            "Line": [
                {"Amount": "100", "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]},
                {"Amount": "30", "LinkedTxn": [{"TxnId": credit["Id"], "TxnType": "VendorCredit"}]},
            ],
        },
    )
    assert company.table("VendorCredit")[credit["Id"]]["Balance"] == 0
    assert company.table("Bill")[bill["Id"]]["Balance"] == 0
    assert vendor["Balance"] == 0


def test_a_sales_receipt_waits_in_undeposited_funds_until_deposited() -> None:
    company = make_company()
    receipt = create(company, "SalesReceipt", {"Line": [sales_line(60, tax="NON")]})

    saved = deposit(company, [linked(receipt, "SalesReceipt")])

    assert receipt["DepositToAccountRef"]["value"] == UNDEPOSITED
    assert company.deposited == {("SalesReceipt", receipt["Id"]): f"Deposit:{saved['Id']}"}
