"""The readiness report names every gap with a fix."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.mapper import readiness
from services.mapper.reference import Reference
from tests.unit.mapper import companies as c


def checks(**kw: Any) -> dict[str, list[readiness.Check]]:
    base: dict[str, Any] = {
        "company": c.company("US"),
        "settings": c.settings(),
        "reference": c.reference("US"),
    }
    inputs = readiness.Inputs(**(base | kw))
    out: dict[str, list[readiness.Check]] = {}
    for check in readiness.report(inputs):
        out.setdefault(check.name, []).append(check)
    return out


def status(found: dict[str, list[readiness.Check]], name: str) -> str:
    return readiness.overall(found[name])


def test_a_well_prepared_company_is_ok() -> None:
    found = checks()
    assert {n: status(found, n) for n in found if status(found, n) != "ok"} == {}


def test_every_gap_is_named_with_a_fix() -> None:
    used = readiness.UsedValues(
        tax_rates=frozenset({"Ghost Tax"}),
        payment_methods=frozenset({"Bitcoin"}),
        payment_terms_days=frozenset({45}),
        currencies=frozenset({"EUR"}),
    )
    settings = c.settings(
        accounts={"income": "Nope", "deposit": "Services"},
        classes={"enabled": True},
        categories={"invoices": {"start_date": "2026-01-01"}},
    )
    company = c.company(
        "US",
        custom_txn_numbers=False,
        edition="QuickBooks Online Essentials",
        book_close_date=dt.date(2026, 3, 31),
    )
    found = checks(company=company, settings=settings, used=used)
    for name in (
        "currency",
        "edition",
        "tax_rate",
        "payment_method",
        "terms",
        "account",
        "classes",
        "doc_numbers",
    ):
        assert status(found, name) == "blocking", name
        assert all(ch.fix for ch in found[name])
    assert status(found, "book_close") == "warning"
    messages = " ".join(ch.message for group in found.values() for ch in group)
    for word in ("Ghost Tax", "Bitcoin", "45 days", "EUR", "'Nope'", "Services"):
        assert word in messages


def test_unsupported_country_and_empty_mirror() -> None:
    found = checks(company=c.company("FR"), reference=Reference())
    assert status(found, "country") == "blocking"
    assert status(found, "reference_data") == "warning"


def test_overall_status_is_the_worst() -> None:
    assert (
        readiness.overall([readiness.Check("a", "ok", ""), readiness.Check("b", "warning", "")]) == "warning"
    )


def test_a_group_tax_with_a_qbo_code_over_its_components_is_ready() -> None:
    settings = c.settings(tax={"groups": {"GST+PST": ["GST", "PST BC"]}})
    used = readiness.UsedValues(tax_rates=frozenset({"GST+PST"}))
    found = checks(company=c.company("CA"), reference=c.reference("CA"), settings=settings, used=used)
    assert status(found, "tax_rate") == "ok"


def test_a_group_tax_no_qbo_code_applies_blocks_with_the_fix() -> None:
    settings = c.settings(tax={"groups": {"GST+QST": ["GST", "QST"]}})
    found = checks(company=c.company("CA"), reference=c.reference("CA"), settings=settings)
    [check] = [f for f in found["tax_rate"] if f.status == "blocking"]
    assert "GST+QST" in check.message
    assert "GST + QST" in check.message
    assert "tax.rates" in check.fix


def test_a_used_currency_missing_from_the_companys_list_blocks_with_the_fix() -> None:
    used = readiness.UsedValues(currencies=frozenset({"EUR", "CHF", "GBP"}))
    company = c.company("GB", multicurrency=True, currencies=["EUR"])
    [check] = checks(company=company, reference=c.reference("GB"), used=used)["currency"]
    assert check.status == "blocking"
    assert "CHF" in check.message
    assert "Settings > Currencies" in check.fix


def test_used_currencies_all_in_the_companys_list_are_ready() -> None:
    used = readiness.UsedValues(currencies=frozenset({"EUR"}))
    company = c.company("GB", multicurrency=True, currencies=["EUR"])
    assert status(checks(company=company, reference=c.reference("GB"), used=used), "currency") == "ok"


def test_inventory_default_accounts_of_the_wrong_type_block_with_the_fix() -> None:
    accounts = c.settings().accounts.model_dump() | {
        "inventory_asset": "Services",
        "cost_of_goods_sold": "Office Expenses",
    }
    blocking = [
        f for f in checks(settings=c.settings(accounts=accounts))["account"] if f.status == "blocking"
    ]
    assert {f.message.split("'")[0] for f in blocking} == {
        "accounts.cost_of_goods_sold ",
        "accounts.inventory_asset ",
    }
    assert {f.fix for f in blocking} == {
        "choose a Other Current Asset account",
        "choose a Cost of Goods Sold account",
    }


def test_summarized_mode_needs_a_sales_tax_account_only_in_the_us() -> None:
    def account_messages(country: str) -> list[str]:
        settings = c.settings(
            posting={"mode": "summarized_journal", "master_customer": "Daily Sales"},
            accounts=c.settings().accounts.model_dump()
            | {"accounts_receivable": "Accounts Receivable (A/R)"},
        )
        found = checks(company=c.company(country), settings=settings, reference=c.reference(country))
        return [ch.message for ch in found["account"] if ch.status == "blocking"]

    assert account_messages("US") == ["no default sales tax account is set"]
    for country in ("GB", "CA", "AU"):
        assert account_messages(country) == [], country
