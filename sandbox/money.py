"""Money as Decimal: parsing what clients send (numbers or numeric strings) and rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sandbox.faults import QboError

CENT = Decimal("0.01")
ZERO = Decimal("0")


def parse(value: object, element: str) -> Decimal | None:
    """A decimal from a JSON number or numeric string; "" and null mean absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise QboError(
            "2010", "Request has invalid or unsupported property", f"Invalid number: {value}", element
        )
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise QboError(
            "2010", "Request has invalid or unsupported property", f"Invalid number: {value}", element
        ) from None


def q2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
