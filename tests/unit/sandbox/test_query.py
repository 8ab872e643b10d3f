"""The sandbox's QBO query language (reference §3)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.query import QueryError, parse, run

ENTITIES = frozenset(
    {"Customer", "Vendor", "Item", "Invoice", "Bill", "Payment", "Account", "Term", "Purchase", "CompanyInfo"}
)
_ids = itertools.count(1)


def customer(**overrides: Any) -> dict[str, Any]:
    row_id = str(next(_ids))
    row: dict[str, Any] = {
        "Id": row_id,
        "DisplayName": f"Customer {row_id}",
        "Active": True,
        "Balance": 0,
        "MetaData": {
            "CreateTime": "2026-11-22T10:00:00-08:00",
            "LastUpdatedTime": "2026-11-22T10:00:00-08:00",
        },
    }
    row.update(overrides)
    return row


def invoice(**overrides: Any) -> dict[str, Any]:
    row_id = str(next(_ids))
    row: dict[str, Any] = {
        "Id": row_id,
        "DocNumber": f"D{row_id}",
        "TxnDate": "2026-11-22",
        "TotalAmt": 100,
        "Balance": 100,
        "CustomerRef": {"value": "1", "name": "Acme"},
        "MetaData": {"CreateTime": "2026-11-22T10:00:00-08:00"},
    }
    row.update(overrides)
    return row


def select(statement: str, rows: list[dict[str, Any]], **kwargs: Any) -> list[str]:
    result = run(parse(statement, known_entities=ENTITIES), rows, **kwargs)
    return [str(row["Id"]) for row in result.rows]


def refusal(statement: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(statement, known_entities=ENTITIES)
    return caught.value


# --- errors QBO has been seen to give, reproduced character for character -----------------------------


def test_unescaped_apostrophe_gives_qbos_own_parser_error() -> None:
    error = refusal("select * from vendor where DisplayName = 'Cutlery 'R Us'")

    assert (error.code, error.message) == ("4000", "Error parsing query")
    assert error.detail == (
        'QueryParserError: Encountered " <IDENTIFIER> "R "" at line 1, column 52.\nWas expecting one of:\n'
        '    <EOF> \n    <AND> ...\n    "iterator" ...\n    "maxresults" ...\n    <OR> ...\n    "order" ...\n'
        '    "orderby" ...\n    "startposition" ...\n    '
    )


def test_character_outside_the_language_gives_qbos_lexical_error() -> None:
    error = refusal("select * from Account where AccountSubType %3D %27Inventory%27")

    assert error.code == "4000"
    assert error.detail == (
        "QueryParserError: Invalid content. Lexical error at line 1, column 44.  "
        'Encountered: "%" (37), after : ""'
    )


def test_empty_statement_gives_qbos_error_at_line_zero() -> None:
    error = refusal("")

    assert (
        error.detail == 'QueryParserError: Encountered "<EOF>" at line 0, column 0.\nWas expecting:\n'
        '    "select" ...\n    '
    )


def test_maxresults_over_1000_gives_qbos_validation_error() -> None:
    error = refusal("select * from Customer maxresults 1500")

    assert (error.code, error.message) == ("4001", "Invalid query")
    assert error.detail == "QueryValidationError: value 1500 is too large. Max allowed value is 1000"


def test_non_filterable_property_gives_qbos_validation_error() -> None:
    error = refusal("select * from Vendor where PrimaryEmailAddr = 'john@doe.com'")

    assert (error.code, error.message) == ("4001", "Invalid query")
    assert error.detail == "QueryValidationError: property 'PrimaryEmailAddr' is not queryable"


# --- syntax errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "where"),
    [
        ("select * Customer", "line 1, column 10"),
        ("select * from Customer where DisplayName = 'abc", "line 1, column 47"),
        ("select * from Customer where Balance > 1 or Balance < 0", "line 1, column 42"),
        ("select Id from Customer", "line 1, column 8"),
        ("select * from Customer where DisplayName = ", "line 1, column 43"),
        ("select * from Customer where DisplayName IN ()", "line 1, column 46"),
        ("select * from Customer maxresults 10 maxresults 10", "line 1, column 38"),
        ("select * from Customer maxresults '10'", "line 1, column 35"),
        ("select * from Customer where Balance > -1", "line 1, column 40"),
        # The column a real QBO gave (intuit/QuickBooks-V3-PHP-SDK#397).
        ("select * from Item WHERE Name='Boot \u2013 Wolverine'", "line 1, column 37"),
        ("select *\nfrom Customer\nwhere Balance >", "line 3, column 15"),
        ("select * from Customer where DisplayName = 'x' group by DisplayName", "line 1, column 48"),
    ],
)
def test_malformed_statement_is_a_4000_naming_the_real_position(statement: str, where: str) -> None:
    error = refusal(statement)

    assert (error.code, error.message) == ("4000", "Error parsing query")
    assert error.detail.startswith("QueryParserError: ")
    assert f"at {where}." in error.detail


def test_syntax_error_is_reported_before_a_later_bad_character() -> None:
    error = refusal("select * from Customer where DisplayName = 'a' b %")

    assert 'Encountered " <IDENTIFIER> "b "" at line 1, column 48.' in error.detail


def test_or_is_refused_as_a_parse_error() -> None:
    error = refusal("SELECT * FROM Invoice WHERE TotalAmt > '5' OR TotalAmt < '1'")

    assert error.code == "4000"
    assert 'Encountered " <OR> "OR ""' in error.detail


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "names"),
    [
        ("select * from Customers", "Customers"),
        ("select * from Check where TxnDate > '2026-01-01'", "Check"),
        ("select * from Invoice where Line.Amount > '10'", "'Line.Amount'"),
        ("select * from Bill where DepartmentRef = '1'", "'DepartmentRef'"),
        ("select * from Purchase where Line = '1'", "'Line'"),
        ("select * from Purchase where AccountRef.value = '1'", "'AccountRef.value'"),
        ("select * from Customer where Id > '3'", "'Id'"),
        ("select * from Customer where Id LIKE '3%'", "'Id'"),
        ("select * from Invoice ORDERBY Line.Amount", "'Line.Amount'"),
        ("select * from CompanyInfo where CompanyName = 'x'", "'CompanyName'"),
        ("select * from Customer maxresults 0", "0"),
    ],
)
def test_statement_qbo_would_not_run_is_a_4001_naming_the_culprit(statement: str, names: str) -> None:
    error = refusal(statement)

    assert (error.code, error.message) == ("4001", "Invalid query")
    assert error.detail.startswith("QueryValidationError: ")
    assert names in error.detail


@pytest.mark.parametrize(
    "statement",
    [
        "select * from Invoice where TxnDate > 'yesterday'",
        "select * from Invoice where TotalAmt > 'lots'",
        "select * from Invoice where MetaData.CreateTime < '2026-13-45'",
    ],
)
def test_value_a_typed_property_cannot_hold_is_a_4002(statement: str) -> None:
    error = refusal(statement)

    assert (error.code, error.message) == ("4002", "Error processing query")
    assert error.detail.startswith("QueryProcessingError: ")


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM Customer WHERE DisplayName = 'x' ORDERBY DisplayName DESC STARTPOSITION 2 "
        "MAXRESULTS 5",
        "select count(*) from customer",
        "SeLeCt * FrOm cUsToMeR wHeRe GiVeNnAmE = 'Greg' StartPosition 10",
        "select * from Customer where Active IN (true, false)",
        "select * from Invoice where id in ('64523', '18761') "
        "and MetaData.CreateTime >= '1990-12-12T12:50:30Z'",
        "select * from Invoice where TxnDate > '2011-01-01' AND TxnDate <= CURRENT_DATE",
        "select * from Item Where Metadata.LastUpdatedTime>'2013-03-13T14:50:22-08:00' Order By "
        "Metadata.LastUpdatedTime",
        "select * from Customer maxresults 1000 startposition 3",
        "select * from Purchase where PaymentType = 'Check'",
        "select * from Invoice where TotalAmt > 1000.5 and Balance = 0",
    ],
)
def test_statement_in_qbos_documented_forms_parses(statement: str) -> None:
    assert parse(statement, known_entities=ENTITIES).entity in ENTITIES


def test_entity_comes_back_spelled_as_qbo_spells_it() -> None:
    query = parse("select * from CUSTOMER", known_entities=ENTITIES)

    assert query.entity == "Customer"


def test_statement_defaults_to_first_100_rows() -> None:
    query = parse("select * from Invoice", known_entities=ENTITIES)

    assert (query.start_position, query.max_results, query.count_only) == (1, 100, False)


def test_repeated_statement_is_parsed_once() -> None:
    statement = f"select * from Customer where DisplayName = 'cached {next(_ids)}'"

    assert parse(statement, known_entities=ENTITIES) is parse(statement, known_entities=set(ENTITIES))


def test_cached_statement_still_refuses_an_entity_the_company_lacks() -> None:
    parse("select * from Term", known_entities=ENTITIES)

    assert refusal_with("select * from Term", ENTITIES - {"Term"}).code == "4001"


def refusal_with(statement: str, entities: frozenset[str]) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(statement, known_entities=entities)
    return caught.value


# --- evaluation ------------------------------------------------------------------------------------------


def test_string_equality_ignores_case() -> None:
    acme, other = customer(DisplayName="Acme Corp"), customer(DisplayName="Other")

    assert select("select * from Customer where displayname = 'ACME corp'", [acme, other]) == [acme["Id"]]


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("'k%'", ["Kenneth", "kath"]),
        ("'%h'", ["Kenneth", "kath"]),
        ("'%NN%'", ["Kenneth"]),
        ("'K%h'", ["Kenneth", "kath"]),
        ("'Ken'", []),
        ("'k.th'", []),
        ("'%'", ["Kenneth", "kath", "Bob"]),
    ],
)
def test_like_matches_percent_wildcards_without_case(pattern: str, matches: list[str]) -> None:
    rows = [customer(GivenName=name) for name in ("Kenneth", "kath", "Bob")]

    found = select(f"select * from Customer where GivenName LIKE {pattern}", rows)

    assert [row["GivenName"] for row in rows if row["Id"] in found] == matches


def test_escaped_apostrophe_matches_the_stored_name() -> None:
    adam = customer(CompanyName="Adam's Candy Shop")

    assert select(r"select * from Customer where CompanyName = 'Adam\'s Candy Shop'", [adam]) == [adam["Id"]]


@pytest.mark.parametrize("literal", ["'1000.0'", "1000", "'1000'", "1000.00"])
def test_amounts_compare_as_numbers_quoted_or_not(literal: str) -> None:
    small, big, exact = invoice(TotalAmt=999.99), invoice(TotalAmt=10000), invoice(TotalAmt=1000)

    assert select(f"select * from Invoice where TotalAmt > {literal}", [small, big, exact]) == [big["Id"]]
    assert select(f"select * from Invoice where TotalAmt = {literal}", [small, big, exact]) == [exact["Id"]]


def test_reference_compares_on_its_id() -> None:
    mine, theirs = invoice(CustomerRef={"value": "3", "name": "X"}), invoice(CustomerRef={"value": "30"})

    assert select("select * from Invoice where CustomerRef = '3'", [mine, theirs]) == [mine["Id"]]
    assert select("select * from Invoice where CustomerRef IN ('30', '4')", [mine, theirs]) == [theirs["Id"]]


def test_id_matches_by_value_quoted_or_not() -> None:
    rows = [invoice(), invoice(), invoice()]

    assert select(f"select * from Invoice where Id = {rows[1]['Id']}", rows) == [rows[1]["Id"]]
    assert select(f"select * from Invoice where Id IN ('{rows[0]['Id']}', '{rows[2]['Id']}')", rows) == [
        rows[0]["Id"],
        rows[2]["Id"],
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("TxnDate >= '2026-11-22'", ["on", "after"]),
        ("TxnDate < '2026-11-22'", ["before"]),
        ("TxnDate = '2026-11-22'", ["on"]),
        # Against a date, a datetime's own offset decides which day it is.
        ("TxnDate < '2026-11-22T00:00:01+14:00'", ["before", "on"]),
    ],
)
def test_dates_compare_as_dates(condition: str, expected: list[str]) -> None:
    rows = {
        name: invoice(TxnDate=day)
        for name, day in (("before", "2026-11-21"), ("on", "2026-11-22"), ("after", "2026-11-23"))
    }

    found = select(f"select * from Invoice where {condition}", list(rows.values()))

    assert [name for name, row in rows.items() if row["Id"] in found] == expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # 10:00-08:00 is 18:00Z, so it is after 17:59:59Z though its wall clock reads earlier.
        ("MetaData.CreateTime > '2026-11-22T17:59:59Z'", ["pacific"]),
        ("MetaData.CreateTime < '2026-11-22T18:00:01Z'", ["pacific", "utc"]),
        ("MetaData.CreateTime = '2026-11-22T18:00:00+01:00'", ["utc"]),
        ("MetaData.CreateTime >= '2026-11-22'", ["pacific", "utc"]),
        ("MetaData.CreateTime < '2026-11-22'", []),
    ],
)
def test_datetimes_compare_as_instants(condition: str, expected: list[str]) -> None:
    rows = {
        "pacific": invoice(MetaData={"CreateTime": "2026-11-22T10:00:00-08:00"}),
        "utc": invoice(MetaData={"CreateTime": "2026-11-22T17:00:00Z"}),
    }

    found = select(f"select * from Invoice where {condition}", list(rows.values()))

    assert [name for name, row in rows.items() if row["Id"] in found] == expected


def test_current_date_is_the_day_the_query_runs() -> None:
    past, future = invoice(TxnDate="2026-11-21"), invoice(TxnDate="2026-11-23")

    statement = "select * from Invoice where TxnDate <= CURRENT_DATE"

    found = select(statement, [past, future], today=date(2026, 11, 22))

    assert found == [past["Id"]]


def test_name_list_returns_only_active_rows_by_default() -> None:
    active, inactive = customer(), customer(Active=False)

    assert select("select * from Customer", [active, inactive]) == [active["Id"]]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Active = false", ["inactive"]),
        ("Active IN (true, false)", ["active", "inactive"]),
        ("active = 'TRUE'", ["active"]),
    ],
)
def test_filtering_on_active_lifts_the_default(condition: str, expected: list[str]) -> None:
    rows = {"active": customer(), "inactive": customer(Active=False)}

    found = select(f"select * from Customer where {condition}", list(rows.values()))

    assert [name for name, row in rows.items() if row["Id"] in found] == expected


def test_active_default_applies_to_name_lists_outside_the_filter_table() -> None:
    net30 = {"Id": str(next(_ids)), "Name": "Net 30", "Active": True}
    old = {"Id": str(next(_ids)), "Name": "Net 90", "Active": False}

    assert select("select * from Term", [net30, old]) == [net30["Id"]]
    assert select("select * from Term where active = false", [net30, old]) == [old["Id"]]


def test_transactions_have_no_active_default() -> None:
    rows = [invoice(), invoice()]

    assert select("select * from Invoice", rows) == [row["Id"] for row in rows]


def test_entity_outside_the_filter_table_filters_any_top_level_property() -> None:
    check, card = {"Id": "7", "PaymentType": "Check"}, {"Id": "8", "PaymentType": "CreditCard"}

    assert select("select * from Purchase where paymenttype = 'check'", [check, card]) == ["7"]


def test_default_order_is_id_ascending_as_numbers() -> None:
    rows = [invoice(Id="10"), invoice(Id="9"), invoice(Id="100")]

    assert select("select * from Invoice", rows) == ["9", "10", "100"]


def test_orderby_sorts_descending_with_id_breaking_ties() -> None:
    rows = [invoice(Id="1", DocNumber="b"), invoice(Id="2", DocNumber="C"), invoice(Id="3", DocNumber="b")]

    assert select("select * from Invoice orderby DocNumber desc", rows) == ["2", "1", "3"]
    assert select("select * from Invoice order by docnumber asc", rows) == ["1", "3", "2"]


def test_orderby_datetime_sorts_by_instant_not_text() -> None:
    late = invoice(MetaData={"CreateTime": "2026-11-22T10:00:00-08:00"})  # 18:00Z
    early = invoice(MetaData={"CreateTime": "2026-11-22T12:00:00+00:00"})

    found = select("select * from Invoice orderby MetaData.CreateTime", [late, early])

    assert found == [early["Id"], late["Id"]]


def test_orderby_amount_sorts_numerically() -> None:
    rows = [invoice(Id="1", TotalAmt=9), invoice(Id="2", TotalAmt=10.5), invoice(Id="3", TotalAmt=100)]

    assert select("select * from Invoice orderby TotalAmt desc", rows) == ["3", "2", "1"]


def test_startposition_and_maxresults_page_the_ordered_rows() -> None:
    rows = [invoice(Id=str(n)) for n in range(1, 26)]

    result = run(parse("select * from Invoice startposition 21 maxresults 10", known_entities=ENTITIES), rows)

    assert [row["Id"] for row in result.rows] == ["21", "22", "23", "24", "25"]
    assert result.to_query_response("Invoice") == {
        "Invoice": result.rows,
        "startPosition": 21,
        "maxResults": 5,
    }


def test_startposition_zero_reads_as_one() -> None:
    rows = [invoice(Id="1"), invoice(Id="2")]

    assert select("select * from Invoice startposition 0 maxresults 1", rows) == ["1"]


def test_unpaged_select_returns_the_first_100() -> None:
    rows = [invoice(Id=str(n)) for n in range(1, 151)]

    assert select("select * from Invoice", rows) == [str(n) for n in range(1, 101)]


def test_empty_page_is_an_empty_query_response() -> None:
    query = parse("select * from Invoice where DocNumber = 'none'", known_entities=ENTITIES)

    result = run(query, [invoice()])

    assert result.to_query_response("Invoice") == {}


@pytest.mark.parametrize("count", [0, 3])
def test_count_answers_total_count_only(count: int) -> None:
    rows = [invoice() for _ in range(count)] + [invoice(TotalAmt=5)]

    result = run(parse("select count(*) from Invoice where TotalAmt > '5'", known_entities=ENTITIES), rows)

    assert result.rows == []
    assert result.to_query_response("Invoice") == {"totalCount": count}


def test_missing_property_never_matches() -> None:
    unnamed, named = customer(), customer(GivenName="Ann")

    assert select("select * from Customer where GivenName < 'zzz'", [unnamed, named]) == [named["Id"]]


# --- properties ------------------------------------------------------------------------------------------


@given(total=st.integers(0, 60), start=st.integers(1, 70), size=st.integers(1, 1000))
def test_any_page_is_exactly_the_matching_slice(total: int, start: int, size: int) -> None:
    rows = [invoice(Id=str(n)) for n in range(1, total + 1)]

    found = select(f"select * from Invoice startposition {start} maxresults {size}", rows)

    assert found == [str(n) for n in range(1, total + 1)][start - 1 : start - 1 + size]


@given(amounts=st.lists(st.integers(0, 50), max_size=40), floor=st.integers(0, 50))
def test_count_equals_length_of_the_unpaged_select(amounts: list[int], floor: int) -> None:
    rows = [invoice(TotalAmt=amount) for amount in amounts]
    where = f"from Invoice where TotalAmt >= '{floor}'"

    counted = run(parse(f"select count(*) {where}", known_entities=ENTITIES), rows).total_count

    assert counted == len(select(f"select * {where} maxresults 1000", rows))
    assert counted == sum(1 for amount in amounts if amount >= floor)


def test_optional_fields_named_after_the_star_are_accepted() -> None:
    query = parse("select *, Sku from Item", known_entities={"Item"})
    assert query.entity == "Item"
    assert not query.count_only


def test_a_field_list_without_the_star_is_still_a_parse_error() -> None:
    with pytest.raises(QueryError) as caught:
        parse("select Sku from Item", known_entities={"Item"})
    assert caught.value.code == "4000"
