"""The settings form: the mapper's document to fields and back, and its 422s beside their fields."""

from __future__ import annotations

from typing import Any

from services.console import settings_form

CURRENT: dict[str, Any] = {
    "categories": {
        "invoices": {"enabled": True, "direction": "to_qbo", "start_date": None, "when_excluded": "reject"}
    },
    "accounts": {"income": "Services", "expense": None},
    "vendor_name_collision_suffix": " (v)",
    "tax": {"rates": {"VAT 20%": "20.0% S"}, "groups": {"CA": ["GST", "PST"]}, "exempt": ["Zero"]},
    "terms": {"by_days": {"30": "Net 30"}},
    "future_setting": {"kept": True},
}


def form_from(values: settings_form.FormValues) -> dict[str, str]:
    """What a browser posts for these values (an unticked box sends nothing)."""
    return {path: ("on" if v is True else str(v)) for path, v in values.items() if v is not False}


def test_values_round_trip_through_the_form() -> None:
    document, errors = settings_form.parse_form(form_from(settings_form.form_values(CURRENT)), CURRENT)
    assert errors == {}
    assert document["tax"]["rates"] == {"VAT 20%": "20.0% S"}
    assert document["tax"]["groups"] == {"CA": ["GST", "PST"]}
    assert document["tax"]["exempt"] == ["Zero"]
    assert document["terms"]["by_days"] == {"30": "Net 30"}
    assert document["accounts"] == {**document["accounts"], "income": "Services", "expense": None}
    assert document["vendor_name_collision_suffix"] == " (v)"
    assert document["future_setting"] == {"kept": True}


def test_an_unticked_box_turns_a_category_off() -> None:
    form = form_from(settings_form.form_values(CURRENT))
    del form["categories.invoices.enabled"]
    document, _ = settings_form.parse_form(form, CURRENT)
    assert document["categories"]["invoices"]["enabled"] is False


def test_a_mapping_line_without_an_equals_sign_is_an_error_on_that_field() -> None:
    form = form_from(settings_form.form_values(CURRENT)) | {"tax.rates": "VAT 20%\nZero = Z"}
    _, errors = settings_form.parse_form(form, CURRENT)
    assert errors == {"tax.rates": ["line 1: write it as 'name = value'"]}


def test_an_impossible_date_is_an_error_on_that_field() -> None:
    form = form_from(settings_form.form_values(CURRENT)) | {"categories.bills.start_date": "2026-02-30"}
    _, errors = settings_form.parse_form(form, CURRENT)
    assert list(errors) == ["categories.bills.start_date"]


def test_fastapi_validation_errors_land_on_the_longest_matching_field() -> None:
    body = {
        "detail": [
            {
                "loc": ["body", "vendor_name_collision_suffix"],
                "msg": "Value error, no ':'",
                "type": "value_error",
            },
            {"loc": ["body", "tax", "rates", "VAT", "[key]"], "msg": "too long", "type": "string_too_long"},
            {"loc": ["body"], "msg": "something about the whole", "type": "value_error"},
        ]
    }
    assert settings_form.field_errors(body) == {
        "vendor_name_collision_suffix": ["Value error, no ':'"],
        "tax.rates": ["too long"],
        "": ["something about the whole"],
    }


def test_problems_with_json_paths_land_on_their_fields_too() -> None:
    body = {"detail": "invalid", "problems": [{"path": "$.accounts.income", "message": "no such account"}]}
    assert settings_form.field_errors(body) == {"accounts.income": ["no such account"]}


def test_every_field_has_a_unique_input_id() -> None:
    ids = [f.input_id for f in settings_form.FIELDS.values()]
    assert len(ids) == len(set(ids))
