"""Field types the wire contracts share: money as decimal strings, ISO dates, bounded text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)


def _money(value: Any) -> Any:
    # Floats cannot carry cents exactly; the contract says money is a decimal *string*.
    if isinstance(value, float | bool):
        raise ValueError('money must be a decimal string such as "100.00", not a JSON number')
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f'"{value}" is not a decimal amount; write it like "100.00"') from None
        if not parsed.is_finite():
            raise ValueError(f'"{value}" is not a finite amount')
        return parsed
    return value


# QBO stores amounts as decimals of up to 15 digits, 10 before the point ("10.5 format"); money
# amounts carry cents at most. Prices, quantities and rates may carry more places.
MAX_INTEGER_DIGITS = 10
MONEY_PLACES = 2
PRICE_PLACES = 10


def _bounded(places: int) -> Any:
    def check(value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError(f'"{value}" is not a finite amount')
        if value.adjusted() >= MAX_INTEGER_DIGITS:
            shown = str(value)[:40]
            raise ValueError(f'"{shown}" is too large; at most {MAX_INTEGER_DIGITS} digits before the point')
        if _places(value) > places:
            raise ValueError(f'"{value}" has more than {places} decimal places')
        return value

    return AfterValidator(check)


def _places(value: Decimal) -> int:
    """Decimal places that matter ("1.50" has 1), computed exactly (no context rounding)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if exponent >= 0:
        return 0
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:
        return 0
    return max(0, -exponent - (len(digits) - len(significant)))


_DECIMAL_STRING = WithJsonSchema(
    {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["100.00"]}, mode="validation"
)
Money = Annotated[
    Decimal,
    BeforeValidator(_money),
    _bounded(MONEY_PLACES),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    _DECIMAL_STRING,
]
"""A decimal amount, given and serialised as a string ("100.00"); cents at most, as QBO stores it."""

Price = Annotated[
    Decimal,
    BeforeValidator(_money),
    _bounded(PRICE_PLACES),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    _DECIMAL_STRING,
]
"""A unit price or exchange rate: like ``Money`` but with up to 10 decimal places."""

NonNegativeMoney = Annotated[Money, Field(ge=0)]
Quantity = Annotated[
    Decimal,
    BeforeValidator(_money),
    _bounded(PRICE_PLACES),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    _DECIMAL_STRING,
]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. GBP")]
Text = Annotated[str, Field(max_length=4000)]
Id = Annotated[str, Field(min_length=1, max_length=200)]


class Contract(BaseModel):
    """Base of every event's data: unknown fields ignored so producers can add fields safely."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


def _iso_date(value: Any) -> Any:
    # Lax parsing would turn 1700000000 into a date; the contract says ISO YYYY-MM-DD strings.
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()) if len(value.strip()) == 10 else _bad_date(value)
        except ValueError:
            return _bad_date(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return _bad_date(value)


def _bad_date(value: Any) -> Any:
    raise ValueError(f'{value!r} is not a date; write it as YYYY-MM-DD, e.g. "2026-11-21"')


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
"""A calendar date, given as an ISO ``YYYY-MM-DD`` string."""
