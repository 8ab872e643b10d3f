"""Reversal mapping rules: how bills are paid from an account, and what a bill payment refuses."""

from __future__ import annotations

from typing import Any

from services.mapper import service
from shared.contracts import CATALOGUE
from tests.unit.mapper import companies as c
from tests.unit.mapper.events import reversal_events
from tests.unit.mapper.test_mapping_rules import last, rejection, run


def bill_payment(**overrides: Any) -> dict[str, Any]:
    return reversal_events("US")["bill_payment.recorded"] | overrides


def test_bill_payment_from_a_credit_card_account_is_a_credit_card_payment() -> None:
    card = c.entity("Account", {"Id": "39", "Name": "Visa Card", "AccountType": "Credit Card"})

    payload = last(
        run("bill_payment.recorded", bill_payment(payment_account="Visa Card"), ref=c.reference("US", card))
    )

    assert payload["PayType"] == "CreditCard"
    assert payload["CreditCardPayment"] == {"CCAccountRef": {"value": "39"}}
    assert "CheckPayment" not in payload


def test_bill_payment_from_an_income_account_is_rejected_naming_the_account() -> None:
    refused = rejection("bill_payment.recorded", bill_payment(payment_account="Services"))

    assert refused.problems[0].path == "$.data.payment_account"
    assert "Income" in refused.problems[0].message


def test_bill_payment_from_an_unknown_account_is_rejected() -> None:
    refused = rejection("bill_payment.recorded", bill_payment(payment_account="Petty Cash"))

    assert "'Petty Cash'" in refused.message


def test_every_reversal_event_has_a_settings_category() -> None:
    assert set(reversal_events("US")) <= set(service.CATEGORY_OF)


def test_the_names_a_reversal_refers_to_are_found_without_fields_it_does_not_carry() -> None:
    settings = c.settings()
    for event_type, data in reversal_events("US").items():
        model = CATALOGUE[event_type].model.model_validate(data)

        names = service.names_in(model, settings)

        assert set(names) == {"Customer", "Item", "Vendor"}
