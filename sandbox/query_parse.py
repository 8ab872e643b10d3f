"""The QBO query language, part two: recursive-descent parser and validation (reference §3.1-3.2)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from sandbox.query_lex import (
    QueryError,
    _escape,
    _parser_error,
    _position,
    _processing_error,
    _temporal,
    _to_decimal,
    _Token,
    _token_image,
    _tokenize,
    _validation_error,
)

DEFAULT_MAX_RESULTS = 100
MAX_MAX_RESULTS = 1000
METADATA = ("MetaData.CreateTime", "MetaData.LastUpdatedTime")
# §3.2; every entity also allows Id and MetaData.*. Entities missing here allow any top-level property.
FILTERABLE: dict[str, tuple[str, ...]] = {
    "Customer": (
        "DisplayName",
        "GivenName",
        "MiddleName",
        "FamilyName",
        "CompanyName",
        "FullyQualifiedName",
        "PrimaryEmailAddr",
        "PrintOnCheckName",
        "Active",
        "Balance",
    ),
    "Vendor": ("DisplayName", "GivenName", "FamilyName", "CompanyName", "Active", "Balance"),
    "Item": ("Name", "Type", "Active", "Sku", "Taxable", "SubItem", "FullyQualifiedName"),
    "Invoice": (
        "DocNumber",
        "TxnDate",
        "DueDate",
        "CustomerRef",
        "SalesTermRef",
        "Balance",
        "TotalAmt",
        "ProjectRef",
    ),
    "Bill": ("VendorRef", "DocNumber", "TxnDate", "TotalAmt", "Balance"),
    "Payment": ("CustomerRef", "TotalAmt", "TxnDate", "PaymentRefNum"),
    # AccountSubType: a real query on it only failed for URL-encoding (pbrink231/quickbooks-node-promise#1).
    "Account": (
        "Name",
        "AccountType",
        "AccountSubType",
        "Classification",
        "SubAccount",
        "Active",
        "CurrentBalance",
        "CurrentBalanceWithSubAccounts",
        "FullyQualifiedName",
    ),
    "CompanyInfo": (),
    "Preferences": (),
}
NAME_LIST_ENTITIES = frozenset(
    {
        "Customer",
        "Vendor",
        "Item",
        "Account",
        "Term",
        "PaymentMethod",
        "Class",
        "Department",
        "TaxCode",
        "TaxRate",
        "Employee",
        "CompanyCurrency",  # [U] a list entity with Active, so it hides inactive rows the same way
    }
)
# [U] A value these properties cannot hold is refused as a processing error, not silently unmatched.
TYPED_PROPERTIES = {
    "TxnDate": "date",
    "DueDate": "date",
    "MetaData.CreateTime": "date",
    "MetaData.LastUpdatedTime": "date",
    "TotalAmt": "number",
    "Balance": "number",
}

_COMPARISONS = ("=", "<", ">", "<=", ">=")
# [U] `!=` is not in Intuit's operator list but QBO accepts it in practice; it is left out of the
# "Was expecting" alternatives so the documented grammar's error texts stay as they were.
NOT_EQUAL = "!="
# The alternatives a real QBO parse error lists after a condition (mcohen01/node-quickbooks#56).
_AFTER_CONDITION = (
    "<EOF>",
    "<AND>",
    '"iterator"',
    '"maxresults"',
    "<OR>",
    '"order"',
    '"orderby"',
    '"startposition"',
)
_AFTER_ENTITY = ("<EOF>", '"iterator"', '"maxresults"', '"order"', '"orderby"', '"startposition"', '"where"')
_AFTER_ORDER = ("<EOF>", '","', '"asc"', '"desc"', '"maxresults"', '"startposition"')


@dataclass(frozen=True, slots=True)
class Literal:
    """One value of a condition, pre-digested so evaluation does no parsing."""

    text: str
    folded: str
    quoted: bool
    number: Decimal | None = None
    flag: bool | None = None
    temporal: date | None = None  # a date, or an aware datetime
    is_today: bool = False


@dataclass(frozen=True, slots=True)
class Condition:
    path: tuple[str, ...]
    op: str  # one of = < > <= >= LIKE IN
    values: tuple[Literal, ...]
    exact: bool  # path spelled as stored, so no case-insensitive key search is needed
    pattern: re.Pattern[str] | None = None
    missing: Any = None  # what an absent property counts as (Active defaults to true)


@dataclass(frozen=True)
class Query:
    entity: str
    count_only: bool
    conditions: tuple[Condition, ...]
    order_by: tuple[tuple[str, bool], ...]
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


_RawCondition = tuple[str, str, list[_Token]]


class _Statement(NamedTuple):
    entity: str
    count_only: bool
    conditions: list[_RawCondition]
    order_by: list[tuple[str, bool]]
    paging: dict[str, int]


class _Parser:
    """Recursive descent over the grammar of §3.1; builds the raw statement, validated afterwards."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind == "error":
            raise _parser_error(token.value)
        return token

    def fail(self, *expected: str) -> QueryError:
        token = self.peek()
        image = self.text[token.start : token.end]
        found = "<EOF>" if token.kind == "eof" else f' {_token_image(token)} "{_escape(image)} "'
        lines = "".join(f"    {e} {'' if e == '<EOF>' else '...'}\n" for e in expected)
        heading = "Was expecting:" if len(expected) == 1 else "Was expecting one of:"
        where = _position(self.text, token.start if token.kind != "eof" else len(self.text) - 1)
        return _parser_error(f'Encountered "{found}" at {where}.\n{heading}\n{lines}    ')

    def at(self, *values: str) -> bool:
        token = self.peek()
        return token.kind in ("keyword", "punct") and token.value in values

    def take(self, value: str) -> None:
        if not self.at(value):
            raise self.fail(f'"{value}"')
        self.index += 1

    def take_kind(self, kind: str, expected: str) -> _Token:
        token = self.peek()
        if token.kind != kind:
            raise self.fail(expected)
        self.index += 1
        return token

    def statement(self) -> _Statement:
        self.take("select")
        count_only = self.select_list()
        self.take("from")
        entity = self.take_kind("word", "<IDENTIFIER>").value
        conditions = self.where_clause() if self.at("where") else []
        if conditions and self.at("or"):
            raise self.fail(*(e for e in _AFTER_CONDITION if e != "<OR>"))
        order_by = self.order_by() if self.at("orderby", "order") else []
        paging = self.paging()
        if self.peek().kind != "eof":
            tail = _AFTER_ORDER if order_by else _AFTER_CONDITION if conditions else _AFTER_ENTITY
            raise self.fail(*tail)
        return _Statement(entity, count_only, conditions, order_by, paging)

    def select_list(self) -> bool:
        if self.at("*"):
            self.index += 1
            # QBO accepts optional fields named after the star (python-quickbooks sends
            # "select *, Sku from Item"); answers carry whole objects either way.
            while self.at(","):
                self.index += 1
                self.take_kind("word", "<IDENTIFIER>")
            return False
        if not self.at("count"):
            raise self.fail('"*"', '"count"')
        self.index += 1
        for value in ("(", "*", ")"):
            self.take(value)
        return True

    def where_clause(self) -> list[_RawCondition]:
        self.take("where")
        conditions = [self.condition()]
        while self.at("and"):
            self.index += 1
            conditions.append(self.condition())
        return conditions

    def condition(self) -> _RawCondition:
        prop = self.take_kind("word", "<IDENTIFIER>").value
        if self.at("in"):
            self.index += 1
            self.take("(")
            values = [self.value()]
            while self.at(","):
                self.index += 1
                values.append(self.value())
            self.take(")")
            return prop, "IN", values
        if not self.at(*_COMPARISONS, NOT_EQUAL, "like"):
            raise self.fail(*(f'"{op}"' for op in (*_COMPARISONS, "in", "like")))
        op = self.peek().value.upper()
        self.index += 1
        return prop, op, [self.value()]

    def value(self) -> _Token:
        token = self.peek()
        if token.kind in ("string", "integer", "decimal") or self.at("true", "false", "current_date"):
            self.index += 1
            return token
        raise self.fail("<STRING>", "<NUMBER>", '"true"', '"false"', '"current_date"')

    def order_by(self) -> list[tuple[str, bool]]:
        if self.at("order"):
            self.index += 1
            self.take("by")
        else:
            self.take("orderby")
        keys = [self.sort_key()]
        while self.at(","):
            self.index += 1
            keys.append(self.sort_key())
        return keys

    def sort_key(self) -> tuple[str, bool]:
        prop = self.take_kind("word", "<IDENTIFIER>").value
        descending = self.at("desc")
        if self.at("asc", "desc"):
            self.index += 1
        return prop, descending

    def paging(self) -> dict[str, int]:
        paging: dict[str, int] = {}
        while self.at("startposition", "maxresults") and self.peek().value not in paging:
            keyword = self.peek().value
            self.index += 1
            paging[keyword] = int(self.take_kind("integer", "<INTEGER>").value)
        return paging


def parse(statement: str, *, known_entities: Collection[str]) -> Query:
    """Parse and validate `statement`; raises QueryError as QBO would answer it."""
    entities = known_entities if isinstance(known_entities, frozenset) else frozenset(known_entities)
    return _parse_cached(statement, entities)


@lru_cache(maxsize=4096)
def _parse_cached(statement: str, known_entities: frozenset[str]) -> Query:
    parsed = _Parser(statement).statement()
    entity = _canonical_entity(parsed.entity, known_entities)
    conditions = tuple(_condition(entity, *raw) for raw in parsed.conditions)
    if entity in NAME_LIST_ENTITIES and not any(c.path == ("Active",) for c in conditions):
        true = Literal(text="true", folded="true", quoted=False, flag=True)
        conditions += (Condition(path=("Active",), op="=", values=(true,), exact=True, missing=True),)
    order_by = tuple((".".join(_property(entity, prop)[0]), desc) for prop, desc in parsed.order_by)
    max_results = parsed.paging.get("maxresults", DEFAULT_MAX_RESULTS)
    if max_results > MAX_MAX_RESULTS:
        # Wording from a real answer quoted in ruckus/quickbooks-ruby#24.
        raise _validation_error(f"value {max_results} is too large. Max allowed value is {MAX_MAX_RESULTS}")
    if max_results < 1:
        raise _validation_error(f"value {max_results} is too small. Min allowed value is 1")  # [U]
    # [U] STARTPOSITION 0 is accepted by QBO (intuit/QuickBooks-V3-DotNET-SDK#111) and read as 1.
    start = max(1, parsed.paging.get("startposition", 1))
    return Query(
        entity=entity,
        count_only=parsed.count_only,
        conditions=conditions,
        order_by=order_by,
        start_position=start,
        max_results=max_results,
    )


def _canonical_entity(written: str, known_entities: frozenset[str]) -> str:
    for entity in known_entities:
        if entity.lower() == written.lower():
            return entity
    # Observed in production (quoted in a third-party client's tests) [U on exact casing].
    raise _validation_error(f"invalid context declaration: {written}")


def _property(entity: str, written: str) -> tuple[tuple[str, ...], bool]:
    """The stored spelling of a property path, and whether it is known exactly."""
    allowed = FILTERABLE.get(entity)
    lowered = written.lower()
    # Name lists outside the table still know Active, so the default-active rule can see it.
    for name in ("Id", *METADATA, *(allowed if allowed is not None else ("Active",))):
        if name.lower() == lowered:
            return tuple(name.split(".")), True
    if allowed is None and "." not in written and lowered != "line":
        return (written,), False
    raise _validation_error(f"property '{written}' is not queryable")


def _condition(entity: str, written: str, op: str, tokens: list[_Token]) -> Condition:
    path, exact = _property(entity, written)
    if path == ("Id",) and op not in ("=", "IN"):
        raise _validation_error(f"Operator {op} is not supported for property 'Id'")  # [U] wording
    values = tuple(_literal(token) for token in tokens)
    kind = TYPED_PROPERTIES.get(".".join(path))
    for value in values:
        if (kind == "date" and value.temporal is None and not value.is_today) or (
            kind == "number" and value.number is None
        ):
            raise _processing_error(f"Invalid value '{value.text}' for property '{written}'")  # [U]
    pattern = _like_pattern(values[0].text) if op == "LIKE" else None
    missing = True if path == ("Active",) else None
    return Condition(path=path, op=op, values=values, exact=exact, pattern=pattern, missing=missing)


def _literal(token: _Token) -> Literal:
    text = token.value
    if token.kind == "keyword":
        flag = {"true": True, "false": False}.get(text)
        return Literal(text=text, folded=text, quoted=False, flag=flag, is_today=text == "current_date")
    quoted = token.kind == "string"
    flag = {"true": True, "false": False}.get(text.lower()) if quoted else None
    return Literal(
        text=text,
        folded=text.casefold(),
        quoted=quoted,
        number=_to_decimal(text),
        flag=flag,
        temporal=_temporal(text),
    )


def _like_pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("%")), re.IGNORECASE | re.DOTALL)
