"""Property: for any line set, tax-inclusive or not, QBO's totals equal the platform's to the cent."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.mapper import service
from services.mapper.mapping import totals
from services.mapper.mapping.base import q2
from shared.contracts import CATALOGUE
from tests.unit.mapper import companies as c

RATES = dict(c.GB_RATES)
money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
quantities = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("500"), places=3)


@st.composite
def lines(draw: st.DrawFn) -> dict[str, Any]:
    qty = draw(st.one_of(st.none(), quantities))
    price = draw(money)
    amount = q2(qty * price) if qty is not None else price
    if draw(st.booleans()):  # platforms round prices: the stated unit price may not multiply out
        price = (price * Decimal("1.0003")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return {
        "item_code": "Design",
        "quantity": None if qty is None else str(qty),
        "unit_price": str(price),
        "amount": str(amount),
        "tax_rate": draw(st.sampled_from(sorted(RATES))),
    }


def platform_total(lines_: list[dict[str, Any]], *, inclusive: bool) -> Decimal:
    """How a VAT platform totals an invoice: per rate, tax on the summed net, rounded once."""
    per_rate: dict[str, Decimal] = {}
    for line in lines_:
        amount, pct = Decimal(line["amount"]), Decimal(RATES[line["tax_rate"]])
        net = amount * 100 / (100 + pct) if inclusive and pct else amount
        per_rate[line["tax_rate"]] = per_rate.get(line["tax_rate"], Decimal(0)) + net
    subtotal = sum((Decimal(ln["amount"]) for ln in lines_), Decimal(0))
    tax = sum((q2(base * Decimal(RATES[r]) / 100) for r, base in per_rate.items()), Decimal(0))
    return subtotal if inclusive else subtotal + tax


@settings(max_examples=200, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=12), st.booleans())
def test_qbo_totals_equal_platform_totals_to_the_cent(lines_: list[dict[str, Any]], inclusive: bool) -> None:
    ctx = c.context("GB")
    data = CATALOGUE["invoice.approved"].model.model_validate(
        c.invoice("GB", lines=lines_, tax_inclusive=inclusive)
    )
    invoice = service.plan(
        "invoice.approved",
        data,
        target=ctx.target,
        settings=ctx.settings,
        reference=ctx.reference,
        source_event_id="e",
    )[-1]

    for line in invoice.payload["Line"]:
        detail = line["SalesItemLineDetail"]
        if "Qty" in detail:
            assert q2(Decimal(str(detail["Qty"])) * Decimal(str(detail["UnitPrice"]))) == Decimal(
                str(line["Amount"])
            )
    qbo = totals.document_total(ctx.reference, invoice.payload, us=False, purchase=False)
    assert qbo == platform_total(lines_, inclusive=inclusive)
