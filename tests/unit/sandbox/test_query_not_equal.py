"""`!=` (accepted by QBO in practice) and QBO's default order of tax codes."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.query import QueryError, parse, run
from tests.unit.sandbox import factories as f

ENTITIES = frozenset({"Customer", "Invoice", "TaxCode"})


def select(statement: str, rows: list[dict[str, Any]]) -> list[str]:
    return [str(row["Id"]) for row in run(parse(statement, known_entities=ENTITIES), rows).rows]


def test_not_equal_keeps_rows_whose_value_differs() -> None:
    rows = [{"Id": "1", "Balance": 0}, {"Id": "2", "Balance": 5}, {"Id": "3", "Balance": 0}]

    assert select("select * from Invoice where Balance != 0", rows) == ["2"]


def test_not_equal_on_text_is_case_insensitive() -> None:
    rows = [{"Id": "1", "DocNumber": "A-1"}, {"Id": "2", "DocNumber": "b-2"}]

    assert select("select * from Invoice where DocNumber != 'a-1'", rows) == ["2"]


def test_not_equal_leaves_out_rows_without_the_property() -> None:
    rows = [{"Id": "1", "DocNumber": "A"}, {"Id": "2"}]

    assert select("select * from Invoice where DocNumber != 'B'", rows) == ["1"]


def test_not_equal_on_active_sees_the_default_of_true() -> None:
    rows: list[dict[str, Any]] = [
        {"Id": "1", "DisplayName": "a"},
        {"Id": "2", "DisplayName": "b", "Active": False},
    ]

    assert select("select * from Customer where Active != true", rows) == ["2"]


def test_not_equal_combines_with_and() -> None:
    rows = [{"Id": "1", "TotalAmt": 10, "Balance": 0}, {"Id": "2", "TotalAmt": 10, "Balance": 10}]

    assert select("select * from Invoice where TotalAmt = 10 and Balance != 0", rows) == ["2"]


def test_not_equal_on_id_is_refused_as_only_equals_and_in_are() -> None:
    with pytest.raises(QueryError) as caught:
        parse("select * from Invoice where Id != '1'", known_entities=ENTITIES)

    assert caught.value.code == "4001"


def test_a_lone_bang_is_still_a_lexical_error() -> None:
    with pytest.raises(QueryError) as caught:
        parse("select * from Invoice where Balance ! 1", known_entities=ENTITIES)

    assert caught.value.code == "4000"


def test_tax_codes_of_a_us_company_list_tax_and_non_first() -> None:
    company = f.make_company(sample=False)
    rows = list(company.table("TaxCode").values())

    assert select("select * from TaxCode", rows)[:3] == ["TAX", "NON", "2"]


def test_tax_codes_ordered_by_a_property_still_sort_by_it() -> None:
    rows = [{"Id": "TAX", "Name": "TAX"}, {"Id": "NON", "Name": "NON"}, {"Id": "2", "Name": "California"}]

    assert select("select * from TaxCode orderby Name", rows) == ["2", "NON", "TAX"]
