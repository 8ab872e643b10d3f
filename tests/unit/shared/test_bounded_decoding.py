"""Bounded decoding: sizes, nesting, numbers, strings and money refused with a problem path."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.contracts import InvalidMessage, decode_data, decode_envelope
from shared.contracts.codec import Limits, load_json
from shared.contracts.common import Money, Price
from tests.helpers.factories import customer_upserted


def _problems(exc: pytest.ExceptionInfo[InvalidMessage]) -> dict[str, str]:
    return {p.path: p.message for p in exc.value.problems}


def test_a_body_over_the_limit_is_refused_as_too_large_before_parsing() -> None:
    with pytest.raises(InvalidMessage) as exc:
        load_json(b"[" * 2000, Limits(max_bytes=1024))
    assert exc.value.kind == "too_large"
    assert "2000 bytes" in str(exc.value)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"[" * 1000 + b"]" * 1000, "nested deeper than 32"),
        (b"[" * 100 + b"]" * 100, "nested deeper than 32"),
        (b'{"n": ' + b"9" * 5000 + b"}", "5000 digits"),
        (b'{"n": 1' + b"0" * 100 + b".5}", "at most 40"),
        (b'{"n": NaN}', "NaN is not a JSON number"),
        (b'{"n": -Infinity}', "-Infinity is not a JSON number"),
        (b"[" + b"1," * 10_001 + b"1]", "items; at most 10000"),
    ],
)
def test_structural_breaches_are_refused(body: bytes, words: str) -> None:
    with pytest.raises(InvalidMessage) as exc:
        load_json(body)
    assert exc.value.kind == "invalid"
    assert words in str(exc.value)


def test_nul_and_lone_surrogates_in_data_are_refused_with_their_path() -> None:
    body = (
        customer_upserted(name="a\x00b", code="SURROGATE").to_json_bytes().replace(b"SURROGATE", b"\\ud800")
    )
    envelope = decode_envelope(body)
    with pytest.raises(InvalidMessage) as exc:
        decode_data(envelope)
    problems = _problems(exc)
    assert "NUL" in problems["$.data.name"]
    assert "surrogate" in problems["$.data.code"]


def test_nul_in_an_envelope_attribute_or_key_is_refused() -> None:
    event: dict[str, Any] = customer_upserted().model_dump(mode="json", exclude_none=True)
    with pytest.raises(InvalidMessage) as exc:
        decode_envelope({**event, "subject": "x\x00"})
    assert "NUL" in _problems(exc)["$.subject"]
    with pytest.raises(InvalidMessage) as exc:
        decode_data(decode_envelope({**event, "data": {**event["data"], "k\x00": 1}}))
    assert "NUL" in _problems(exc)["$.data"]


def test_a_long_string_is_refused() -> None:
    envelope = decode_envelope(customer_upserted(name="x" * 100_001).to_json_bytes())
    with pytest.raises(InvalidMessage) as exc:
        decode_data(envelope)
    assert "100001 characters" in _problems(exc)["$.data.name"]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1E+999999", "too large"),
        ("10000000000", "too large"),
        ("-10000000000.00", "too large"),
        ("100.005", "more than 2 decimal places"),
        ("1E-999999", "more than 2 decimal places"),
        ("NaN", "not a finite amount"),
    ],
)
def test_money_outside_what_qbo_stores_is_refused(value: str, words: str) -> None:
    with pytest.raises(ValidationError) as exc:
        TypeAdapter(Money).validate_python(value)
    assert words in str(exc.value)


@pytest.mark.parametrize("value", ["100.00", "100.5", "9999999999.99", "-0.01", "100.000", "1E+3"])
def test_money_qbo_stores_is_accepted(value: str) -> None:
    assert TypeAdapter(Money).validate_python(value) == Decimal(value)


def test_prices_may_carry_ten_places_but_no_more() -> None:
    assert TypeAdapter(Price).validate_python("0.1234567891") == Decimal("0.1234567891")
    with pytest.raises(ValidationError):
        TypeAdapter(Price).validate_python("0.12345678912")
