"""The QBO query language (reference §3): tokenizer, recursive-descent parser, evaluator.

Hand-written rather than built on a parser library: the product here is QBO's own error text
(JavaCC-style `Encountered " <IDENTIFIER> "R "" at line 1, column 52.`), lazy lexing (a bad
character after a syntax error is never reported) and QBO's comparison rules, which a generic
SQL parser would have to be bent into anyway.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_MAX_RESULTS = 100
MAX_MAX_RESULTS = 1000
# [U] Datetimes without an offset, and CURRENT_DATE, are read in the company's time zone; sandbox
# companies are on US Pacific time as Intuit's are.
try:
    COMPANY_TZ: tzinfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # slim images without tzdata
    COMPANY_TZ = timezone(timedelta(hours=-8))
# A real QBO lexer rejects an en dash inside a quoted value (intuit/QuickBooks-V3-PHP-SDK#397);
# [U] taken here as "only ISO-8859-1 characters".
MAX_STRING_CODEPOINT = 0xFF

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

_KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "and",
        "or",
        "in",
        "like",
        "orderby",
        "order",
        "by",
        "asc",
        "desc",
        "startposition",
        "maxresults",
        "count",
        "true",
        "false",
        "current_date",
    }
)
_NAMED_KEYWORDS = {"and": "<AND>", "or": "<OR>"}
# One pass of one pattern per token keeps a typical statement well under 100 µs to parse.
_BEYOND = f"\\u{MAX_STRING_CODEPOINT + 1:04x}-\\U0010ffff"
_TOKEN = re.compile(
    rf"""[ \t\r\n]*(?:(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<number>[0-9]+(?:\.[0-9]+)?)
    |(?P<string>'(?:[^'\\{_BEYOND}]|\\[^{_BEYOND}])*')|(?P<punct><=|>=|[=<>(),*]))?""",
    re.VERBOSE,
)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_DATEISH = re.compile(r"\d{4}-\d{2}-\d{2}")
_COMPARISONS = ("=", "<", ">", "<=", ">=")
_SIGNS = {"=": (0,), "<": (-1,), ">": (1,), "<=": (-1, 0), ">=": (0, 1)}
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
_ESCAPES = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "'": "\\'",
    "\\": "\\\\",
}


class QueryError(Exception):
    """A statement QBO would refuse."""

    def __init__(self, *, code: str, message: str, detail: str) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail


def _parser_error(detail: str) -> QueryError:
    return QueryError(code="4000", message="Error parsing query", detail=f"QueryParserError: {detail}")


def _validation_error(detail: str) -> QueryError:
    return QueryError(code="4001", message="Invalid query", detail=f"QueryValidationError: {detail}")


def _processing_error(detail: str) -> QueryError:
    return QueryError(code="4002", message="Error processing query", detail=f"QueryProcessingError: {detail}")


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


@dataclass(frozen=True)
class QueryResult:
    rows: list[Mapping[str, Any]]
    total_count: int | None
    start_position: int
    max_results: int

    def to_query_response(self, entity: str) -> dict[str, Any]:
        """The QBO `QueryResponse` object; an empty page is `{}` as QBO answers (§2.4)."""
        if self.total_count is not None:
            return {"totalCount": self.total_count}
        if not self.rows:
            return {}
        return {entity: list(self.rows), "startPosition": self.start_position, "maxResults": self.max_results}


class _Token(NamedTuple):
    kind: str  # word, keyword, string, integer, decimal, punct, eof, error
    value: str  # keyword lowercased, string unescaped, or the error detail
    start: int
    end: int


def _position(text: str, offset: int) -> str:
    if not text:
        return "line 0, column 0"
    offset = min(offset, len(text) - 1)
    line_start = text.rfind("\n", 0, offset) + 1
    return f"line {text.count(chr(10), 0, offset) + 1}, column {offset - line_start + 1}"


def _escape(text: str) -> str:
    """JavaCC's `addEscapes`, which QBO's messages pass images through."""
    return "".join(_ESCAPES.get(c) or (c if " " <= c <= "~" else f"\\u{ord(c):04x}") for c in text)


def _lexical_error(text: str, offset: int, token_start: int) -> _Token:
    found = "<EOF> " if offset >= len(text) else f'"{_escape(text[offset])}" ({ord(text[offset])}), '
    detail = (
        f"Invalid content. Lexical error at {_position(text, offset)}.  Encountered: {found}"
        f'after : "{_escape(text[token_start:offset])}"'
    )
    return _Token("error", detail, token_start, offset)


def _string_token(text: str, start: int) -> _Token:
    chars: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "'":
            return _Token("string", "".join(chars), start, pos + 1)
        if char == "\\" and pos + 1 < len(text):
            pos += 1
            char = text[pos]
        if ord(char) > MAX_STRING_CODEPOINT:
            return _lexical_error(text, pos, start)
        chars.append(char)
        pos += 1
    return _lexical_error(text, len(text), start)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        found = _TOKEN.match(text, pos)
        assert found is not None  # every alternative is optional, so the pattern always matches
        kind, pos = found.lastgroup, found.end()
        if kind is None:
            tokens.append(_stop_token(text, pos))
            return tokens
        tokens.append(_token(kind, found.group(kind), found.start(kind), pos))


def _stop_token(text: str, pos: int) -> _Token:
    if pos >= len(text):
        return _Token("eof", "", pos, pos)
    # A broken string or a stray character: rescan slowly for QBO's exact message.
    return _string_token(text, pos) if text[pos] == "'" else _lexical_error(text, pos, pos)


def _token(kind: str, image: str, start: int, end: int) -> _Token:
    if kind == "word":
        lowered = image.lower()
        if lowered in _KEYWORDS:
            return _Token("keyword", lowered, start, end)
    elif kind == "number":
        kind = "decimal" if "." in image else "integer"
    elif kind == "string":
        image = _UNESCAPE.sub(r"\1", image[1:-1])
    return _Token(kind, image, start, end)


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
        if not self.at(*_COMPARISONS, "like"):
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


def _token_image(token: _Token) -> str:
    if token.kind == "keyword":
        return _NAMED_KEYWORDS.get(token.value, f'"{token.value}"')
    if token.kind == "punct":
        return f'"{token.value}"'
    return {"word": "<IDENTIFIER>", "string": "<STRING>"}.get(token.kind, "<NUMBER>")


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


def _to_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        return Decimal(value) if not isinstance(value, Decimal) or value.is_finite() else None
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _temporal(text: str) -> date | None:
    if not _DATEISH.match(text):
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=COMPANY_TZ)


def _instant(value: date, zone: tzinfo | None = None) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=zone or COMPANY_TZ)


def _sign(left: Any, right: Any) -> int:
    return int(left > right) - int(left < right)


def _compare_temporal(left: date, right: date) -> int:
    # A bare date is the start of that day in the zone of the datetime it meets.
    if isinstance(left, datetime):
        return _sign(left, _instant(right, left.tzinfo))
    if isinstance(right, datetime):
        return _sign(_instant(left, right.tzinfo), right)
    return _sign(left, right)


def _compare(field: Any, literal: Literal, today: date) -> int | None:
    """-1/0/1 for field vs literal under QBO's rules, None when they cannot be compared."""
    if isinstance(field, bool):
        return None if literal.flag is None else _sign(field, literal.flag)
    if isinstance(field, int | float | Decimal):
        number = literal.number
        return None if number is None else _sign(_to_decimal(field), number)
    if not isinstance(field, str):
        return None
    moment = today if literal.is_today else literal.temporal
    if moment is not None and (stored := _temporal(field)) is not None:
        return _compare_temporal(stored, moment)
    stored_number = None if literal.quoted else _to_decimal(field)
    if literal.number is not None and stored_number is not None:
        return _sign(stored_number, literal.number)
    return _sign(field.casefold(), literal.folded)


def _lookup(row: Mapping[str, Any], path: tuple[str, ...], exact: bool) -> Any:
    value: Any = row
    for segment in path:
        if not isinstance(value, Mapping):
            return None
        found = value.get(segment)
        if found is None and not exact:
            lowered = segment.lower()
            found = next((v for k, v in value.items() if k.lower() == lowered), None)
        value = found
    if isinstance(value, Mapping):
        # References compare on their id; e-mail objects on the address.
        return value.get("value", value.get("Address"))
    return value


def _holds(condition: Condition, row: Mapping[str, Any], today: date) -> bool:
    field = _lookup(row, condition.path, condition.exact)
    if field is None:
        field = condition.missing
    if condition.pattern is not None:
        return field is not None and condition.pattern.fullmatch(str(field)) is not None
    if condition.op == "IN":
        return any(_compare(field, value, today) == 0 for value in condition.values)
    return _compare(field, condition.values[0], today) in _SIGNS[condition.op]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float | Decimal):
        return (1, _to_decimal(int(value) if isinstance(value, bool) else value))
    if isinstance(value, str):
        moment = _temporal(value)
        return (2, _instant(moment)) if moment is not None else (3, value.casefold())
    return (4, str(value))


def _row_sort_key(path: tuple[str, ...], row: Mapping[str, Any]) -> tuple[int, Any]:
    return _sort_key(_lookup(row, path, False))


def _id_key(row: Mapping[str, Any]) -> tuple[int, int, str]:
    row_id = str(row.get("Id", ""))
    return (0, int(row_id), "") if row_id.isdigit() else (1, 0, row_id)


def run(query: Query, rows: Iterable[Mapping[str, Any]], *, today: date | None = None) -> QueryResult:
    """Filter, order and page `rows` (all rows of `query.entity`) as QBO answers the statement."""
    day = today or datetime.now(COMPANY_TZ).date()
    matched = [row for row in rows if all(_holds(c, row, day) for c in query.conditions)]
    if query.count_only:
        return QueryResult(
            rows=[], total_count=len(matched), start_position=query.start_position, max_results=0
        )
    matched.sort(key=_id_key)  # [U] QBO's default order; also the tie-break under ORDERBY
    for prop, descending in reversed(query.order_by):
        matched.sort(key=partial(_row_sort_key, tuple(prop.split("."))), reverse=descending)
    begin = query.start_position - 1
    page = matched[begin : begin + query.max_results]
    return QueryResult(
        rows=page, total_count=None, start_position=query.start_position, max_results=len(page)
    )
