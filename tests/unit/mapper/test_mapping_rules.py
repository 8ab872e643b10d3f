"""Mapping rules one at a time: tax, lines, names, limits, currencies, editions, rejections."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.mapper import service
from services.mapper.mapping import Rejection
from shared.contracts import CATALOGUE
from shared.contracts.internal import ExportRequested
from tests.unit.mapper import companies as c


def run(event_type: str, data: dict[str, Any], country: str = "US", **kw: Any) -> list[ExportRequested]:
    ctx = c.context(country, **kw)
    model = CATALOGUE[event_type].model.model_validate(data)
    return service.plan(
        event_type,
        model,
        target=ctx.target,
        settings=ctx.settings,
        reference=ctx.reference,
        source_event_id="evt-1",
    )


def rejection(event_type: str, data: dict[str, Any], country: str = "US", **kw: Any) -> Rejection:
    with pytest.raises(Rejection) as caught:
        run(event_type, data, country, **kw)
    return caught.value


def last(commands: list[ExportRequested]) -> dict[str, Any]:
    return commands[-1].payload


def test_unknown_tax_rate_is_rejected_naming_the_rate_and_the_setting() -> None:
    data = c.invoice("GB", lines=[c.sales_line(tax_rate="17.5% Old")])
    found = rejection("invoice.approved", data, "GB")
    assert found.problems[0].path == "$.data.lines[0].tax_rate"
    assert "17.5% Old" in found.problems[0].message
    assert "tax.rates" in found.problems[0].hint


def test_mapped_tax_rate_uses_the_qbo_code_from_settings() -> None:
    data = c.invoice("GB", lines=[c.sales_line(tax_rate="Standard")])
    payload = last(run("invoice.approved", data, "GB", tax={"rates": {"Standard": "20.0% S"}}))
    assert payload["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "1"}


def test_gb_line_without_tax_rate_uses_the_default_code_or_is_rejected() -> None:
    data = c.invoice("GB", lines=[c.sales_line()])
    assert rejection("invoice.approved", data, "GB").problems[0].path == "$.data.lines[0].tax_rate"
    payload = last(run("invoice.approved", data, "GB", tax={"default_code": "No VAT"}))
    assert payload["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "5"}


def test_us_lines_without_tax_are_non_and_no_txn_tax_code_is_sent() -> None:
    payload = last(run("invoice.approved", c.invoice("US", lines=[c.sales_line()])))
    assert payload["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}
    assert "TxnTaxDetail" not in payload


def test_tax_inclusive_gb_invoice_says_so_and_carries_gross_amounts() -> None:
    data = c.invoice("GB", tax_inclusive=True, lines=[c.sales_line(tax_rate="20.0% S")])
    payload = last(run("invoice.approved", data, "GB"))
    assert payload["GlobalTaxCalculation"] == "TaxInclusive"
    assert payload["Line"][0]["SalesItemLineDetail"]["TaxInclusiveAmt"] == 225.0


def test_amount_is_qty_times_unit_price_even_when_the_platform_rounded_the_price() -> None:
    line = c.sales_line(quantity="3", unit_price="33.33", amount="100.00", tax_rate=None)
    detail = last(run("invoice.approved", c.invoice(lines=[line])))["Line"][0]["SalesItemLineDetail"]
    assert round(Decimal(str(detail["Qty"])) * Decimal(str(detail["UnitPrice"])), 2) == Decimal("100.00")


def test_doc_number_over_21_characters_is_refused_by_the_contract() -> None:
    with pytest.raises(ValueError, match="21"):
        CATALOGUE["invoice.approved"].model.model_validate(c.invoice(number="X" * 22))


def test_customer_display_name_with_a_colon_is_rejected() -> None:
    found = rejection("customer.upserted", c.customer(code="ACME:UK"))
    assert found.problems[0].path == "$.data.code"
    assert "':'" in found.problems[0].message


def test_vendor_named_like_a_customer_gets_the_suffix() -> None:
    payload = last(run("vendor.upserted", {"vendor_id": "v1", "name": "Paper Co"}))
    assert payload["DisplayName"] == "Paper Co (v)"


def test_vendor_suffix_comes_from_settings() -> None:
    payload = last(
        run(
            "vendor.upserted",
            {"vendor_id": "v1", "name": "Paper Co"},
            vendor_name_collision_suffix=" - supplier",
        )
    )
    assert payload["DisplayName"] == "Paper Co - supplier"


def test_foreign_currency_without_multicurrency_is_rejected_with_the_reason() -> None:
    found = rejection("invoice.approved", c.invoice(currency="EUR"))
    assert found.problems[0].path == "$.data.currency"
    assert "Multicurrency" in found.problems[0].hint


def test_foreign_currency_with_multicurrency_sends_currency_and_rate() -> None:
    data = c.invoice(currency="EUR", exchange_rate="1.08")
    payload = last(run("invoice.approved", data, company_overrides={"multicurrency": True}))
    assert payload["CurrencyRef"] == {"value": "EUR"}
    assert payload["ExchangeRate"] == 1.08


def test_purchase_order_below_plus_is_rejected() -> None:
    found = rejection(
        "purchase_order.approved",
        c.purchase("purchase_order"),
        company_overrides={"edition": "QuickBooks Online Essentials"},
    )
    assert "Plus or Advanced" in found.message


def test_bill_lines_are_item_lines_for_known_products_and_account_lines_otherwise() -> None:
    lines = last(run("bill.approved", c.purchase("bill")))["Line"]
    assert [ln["DetailType"] for ln in lines] == [
        "ItemBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail",
    ]
    assert lines[2]["AccountBasedExpenseLineDetail"]["AccountRef"] == {"value": "35"}


def test_an_item_missing_from_the_mirror_is_looked_up_in_qbo_when_creating_items_is_not_allowed() -> None:
    data = c.invoice(lines=[c.sales_line(item_code="NEWTHING")])
    commands = run("invoice.approved", data, create_missing_items=False)
    assert [cmd.entity for cmd in commands] == ["Customer", "Invoice"]  # no item created
    item_ref = commands[-1].payload["Line"][0]["SalesItemLineDetail"]["ItemRef"]
    assert item_ref == {"$link": {"entity": "Item", "match": {"field": "Name", "value": "NEWTHING"}}}


def test_invoice_depends_on_its_customer_and_new_items_which_come_first() -> None:
    commands = run("invoice.approved", c.invoice())
    assert [cmd.entity for cmd in commands] == ["Item", "Customer", "Invoice"]
    assert {"entity": "Customer", "platform_id": "cus_1"} in commands[-1].depends_on


def test_customer_without_id_is_linked_by_its_code() -> None:
    data = c.invoice(customer=c.customer(customer_id=None))
    commands = run("invoice.approved", data)
    assert commands[-1].payload["CustomerRef"] == {"$link": {"entity": "Customer", "platform_id": "ACME"}}


def test_project_becomes_the_customer_ref() -> None:
    project = c.entity(
        "Customer",
        {
            "Id": "90",
            "DisplayName": "Website",
            "FullyQualifiedName": "ACME:Website",
            "Job": True,
            "IsProject": True,
        },
    )
    payload = last(run("invoice.approved", c.invoice(project="Website"), ref=c.reference("US", project)))
    assert payload["CustomerRef"] == {"value": "90"}


def test_classes_per_line_and_locations_per_transaction() -> None:
    lines = [c.sales_line(**{"class": "Retail", "location": "London"})]
    payload = last(
        run(
            "invoice.approved",
            c.invoice(lines=lines),
            company_overrides={"class_tracking": "per_line", "department_tracking": True},
            classes={"enabled": True},
            locations={"enabled": True},
        )
    )
    assert payload["Line"][0]["SalesItemLineDetail"]["ClassRef"] == {"value": "60"}
    assert payload["DepartmentRef"] == {"value": "70"}


def test_conflicting_classes_for_a_per_transaction_company_are_rejected() -> None:
    lines = [c.sales_line(**{"class": "Retail"}), c.sales_line(**{"class": "Wholesale"})]
    found = rejection(
        "invoice.approved",
        c.invoice(lines=lines),
        company_overrides={"class_tracking": "per_transaction"},
        classes={"enabled": True},
    )
    assert "one class per transaction" in found.message


def test_keeping_numbers_needs_custom_transaction_numbers() -> None:
    found = rejection("invoice.approved", c.invoice(), company_overrides={"custom_txn_numbers": False})
    assert found.problems[0].path == "$.data.number"


def test_payment_links_each_invoice_by_its_platform_id() -> None:
    data = {
        "payment_id": "p1",
        "date": "2026-11-10",
        "amount": "50.00",
        "customer": {"code": "Paper Co"},
        "applied_to": [{"invoice_id": "inv_9", "amount": "50.00"}],
    }
    commands = run("payment.recorded", data)
    assert [cmd.entity for cmd in commands] == ["Payment"]
    assert commands[0].payload["CustomerRef"] == {"value": "58"}
    linked = commands[0].payload["Line"][0]["LinkedTxn"][0]
    assert linked == {
        "TxnId": {"$link": {"entity": "Invoice", "platform_id": "inv_9", "as": "id"}},
        "TxnType": "Invoice",
    }


def test_refund_whose_lines_do_not_add_up_is_rejected() -> None:
    data = {
        "refund_id": "r1",
        "date": "2026-11-12",
        "amount": "10.00",
        "customer": {"code": "ACME"},
        "lines": [c.sales_line(quantity="1", unit_price="75.00", amount="75.00")],
    }
    assert rejection("refund.issued", data).problems[0].path == "$.data.amount"


def test_every_problem_is_reported_not_just_the_first() -> None:
    lines = [c.sales_line(tax_rate="Nope"), c.sales_line(tax_rate="Nope2"), c.sales_line(item_code=None)]
    found = rejection(
        "invoice.approved", c.invoice("GB", lines=lines, currency="EUR"), "GB", fallback_item=None
    )
    paths = {p.path for p in found.problems}
    assert {
        "$.data.lines[0].tax_rate",
        "$.data.lines[1].tax_rate",
        "$.data.lines[2].item_code",
        "$.data.currency",
    } <= paths


def test_negative_invoice_total_is_rejected() -> None:
    data = c.invoice(lines=[c.sales_line(quantity=None, unit_price=None, amount="-5.00")])
    assert "negative" in rejection("invoice.approved", data).message


def test_a_platform_group_tax_maps_to_the_qbo_code_applying_exactly_its_components() -> None:
    data = c.invoice("CA", lines=[c.sales_line(tax_rate="GST+PST")])
    payload = last(run("invoice.approved", data, "CA", tax={"groups": {"GST+PST": ["gst", "PST BC"]}}))
    assert payload["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "6"}


def test_a_purchase_group_tax_is_matched_on_the_codes_purchase_rates() -> None:
    data = c.purchase(
        "bill",
        "CA",
        lines=[
            {"description": "Paper", "account": "Office Expenses", "amount": "9.99", "tax_rate": "GST+PST"}
        ],
    )
    payload = last(run("bill.approved", data, "CA", tax={"groups": {"GST+PST": ["GST", "PST BC"]}}))
    assert payload["Line"][0]["AccountBasedExpenseLineDetail"]["TaxCodeRef"] == {"value": "6"}


def test_a_group_tax_whose_components_no_qbo_code_applies_is_rejected_with_the_fix() -> None:
    data = c.invoice("CA", lines=[c.sales_line(tax_rate="GST+QST")])
    found = rejection("invoice.approved", data, "CA", tax={"groups": {"GST+QST": ["GST", "QST"]}})
    assert found.problems[0].path == "$.data.lines[0].tax_rate"
    assert "GST+QST" in found.problems[0].message
    assert "tax.rates" in found.problems[0].hint


def test_a_group_tax_is_not_matched_to_a_code_applying_only_some_of_its_components() -> None:
    data = c.invoice("CA", lines=[c.sales_line(tax_rate="GST+PST+HST")])
    groups = {"groups": {"GST+PST+HST": ["GST", "PST BC", "HST ON"]}}
    assert rejection("invoice.approved", data, "CA", tax=groups).problems[0].path.endswith("tax_rate")


def test_au_gst_inclusive_invoice_carries_the_gst_code_and_gross_amounts() -> None:
    data = c.invoice("AU", tax_inclusive=True, lines=[c.sales_line(tax_rate="GST")])
    payload = last(run("invoice.approved", data, "AU"))
    assert payload["GlobalTaxCalculation"] == "TaxInclusive"
    detail = payload["Line"][0]["SalesItemLineDetail"]
    assert detail["TaxCodeRef"] == {"value": "1"}
    assert detail["TaxInclusiveAmt"] == 225.0


def inventory(**overrides: Any) -> dict[str, Any]:
    return {
        "item_id": "itm_2",
        "code": "GADGET",
        "type": "inventory",
        "quantity_on_hand": "40",
        "inventory_start_date": "2026-11-01",
    } | overrides


def test_a_new_inventory_item_without_its_start_date_is_rejected_with_the_fix() -> None:
    found = rejection("item.upserted", inventory(inventory_start_date=None))
    assert [p.path for p in found.problems] == ["$.data.inventory_start_date"]
    assert "inventory_start_date" in found.problems[0].hint


def test_an_existing_inventory_item_is_updated_without_its_opening_stock() -> None:
    known = c.entity("Item", {"Id": "90", "Name": "GADGET", "Type": "Inventory"})
    [command] = run("item.upserted", inventory(inventory_start_date=None), ref=c.reference("US", known))
    assert command.operation == "update"
    assert not {"QtyOnHand", "InvStartDate"} & set(command.payload)
    assert command.payload["AssetAccountRef"] == {"value": "37"}


def test_an_inventory_item_takes_its_own_accounts_over_the_defaults() -> None:
    data = inventory(asset_account="Undeposited Funds", expense_account="Cost of Goods Sold")
    payload = last(run("item.upserted", data, accounts={"income": "Services"}))
    assert (payload["AssetAccountRef"], payload["ExpenseAccountRef"]) == ({"value": "30"}, {"value": "36"})


def test_an_inventory_item_needs_a_cost_of_goods_sold_and_an_asset_account() -> None:
    found = rejection(
        "item.upserted", inventory(expense_account="Office Expenses"), accounts={"income": "Services"}
    )
    assert {p.path for p in found.problems} == {"$.data.expense_account", "$.data.asset_account"}
    assert any("accounts.inventory_asset" in p.hint for p in found.problems)


def test_an_inventory_item_is_refused_below_plus_with_the_fix() -> None:
    found = rejection(
        "item.upserted", inventory(), company_overrides={"edition": "QuickBooks Online Essentials"}
    )
    assert found.problems[0].path == "$.data.type"
    assert "non_inventory" in found.problems[0].hint


MULTI = {"multicurrency": True, "currencies": ["EUR", "USD"]}


def foreign_payment(**overrides: Any) -> dict[str, Any]:
    return {
        "payment_id": "pay_eur",
        "date": "2026-11-10",
        "amount": "100.00",
        "currency": "EUR",
        "exchange_rate": "0.86",
        "customer": {"code": "ACME"},
        "applied_to": [{"invoice_id": "inv_1", "amount": "100.00"}],
    } | overrides


def test_a_foreign_payment_carries_its_currency_and_exchange_rate() -> None:
    payload = last(run("payment.recorded", foreign_payment(), "GB", company_overrides=MULTI))
    assert payload["CurrencyRef"] == {"value": "EUR"}
    assert payload["ExchangeRate"] == 0.86


def test_a_foreign_refund_carries_its_currency_and_exchange_rate() -> None:
    data = {
        "refund_id": "ref_eur",
        "date": "2026-11-12",
        "amount": "90.00",
        "currency": "EUR",
        "exchange_rate": "0.86",
        "customer": {"code": "ACME"},
        "lines": [c.sales_line(quantity="1", unit_price="75.00", amount="75.00", tax_rate="20.0% S")],
    }
    payload = last(run("refund.issued", data, "GB", company_overrides=MULTI))
    assert (payload["CurrencyRef"], payload["ExchangeRate"]) == ({"value": "EUR"}, 0.86)


def test_a_currency_missing_from_the_companys_list_is_rejected_with_the_fix() -> None:
    found = rejection("payment.recorded", foreign_payment(currency="CHF"), "GB", company_overrides=MULTI)
    assert found.problems[0].path == "$.data.currency"
    assert "CHF" in found.problems[0].message
    assert "Settings > Currencies" in found.problems[0].hint
    assert "refresh-profile" in found.problems[0].hint


def test_an_invoice_in_a_currency_missing_from_the_list_is_rejected() -> None:
    data = c.invoice("GB", currency="CHF", exchange_rate="0.9")
    assert (
        rejection("invoice.approved", data, "GB", company_overrides=MULTI).problems[0].path
        == "$.data.currency"
    )


def test_a_profile_that_never_read_the_currency_list_does_not_refuse_a_currency() -> None:
    profile = {"multicurrency": True}
    payload = last(run("payment.recorded", foreign_payment(currency="CHF"), "GB", company_overrides=profile))
    assert payload["CurrencyRef"] == {"value": "CHF"}


TRACKED = {"class_tracking": "per_line", "department_tracking": True}


@pytest.mark.parametrize("kind", ["bill", "purchase_order"])
def test_a_purchase_carries_its_location_and_a_class_per_line(kind: str) -> None:
    lines = [{"description": "Paper", "account": "Office Expenses", "amount": "9.99", "class": "Retail"}]
    data = c.purchase(kind, location="London", lines=lines)
    payload = last(
        run(
            f"{kind}.approved",
            data,
            company_overrides=TRACKED,
            classes={"enabled": True},
            locations={"enabled": True},
        )
    )
    assert payload["DepartmentRef"] == {"value": "70"}
    assert payload["Line"][0]["AccountBasedExpenseLineDetail"]["ClassRef"] == {"value": "60"}


def test_a_purchase_location_qbo_does_not_have_is_rejected_with_the_fix() -> None:
    data = c.purchase("bill", location="Paris")
    found = rejection("bill.approved", data, company_overrides=TRACKED, locations={"enabled": True})
    assert found.problems[0].path == "$.data.location"
    assert "locations.names" in found.problems[0].hint


def test_a_purchase_location_is_left_out_where_the_company_does_not_track_locations() -> None:
    payload = last(run("bill.approved", c.purchase("bill", location="London"), locations={"enabled": True}))
    assert "DepartmentRef" not in payload
