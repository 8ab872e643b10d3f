"""The QBO query language, part one: tokens, literal values and QBO's error texts (reference §3).

Hand-written rather than built on a parser library: the product here is QBO's own error text
(JavaCC-style `Encountered " <IDENTIFIER> "R "" at line 1, column 52.`) and lazy lexing (a bad
character after a syntax error is never reported).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# [U] Datetimes without an offset, and CURRENT_DATE, are read in the company's time zone; sandbox
# companies are on US Pacific time as Intuit's are.
try:
    COMPANY_TZ: tzinfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # slim images without tzdata
    COMPANY_TZ = timezone(timedelta(hours=-8))
# A real QBO lexer rejects an en dash inside a quoted value (intuit/QuickBooks-V3-PHP-SDK#397);
# [U] taken here as "only ISO-8859-1 characters".
MAX_STRING_CODEPOINT = 0xFF

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
    |(?P<string>'(?:[^'\\{_BEYOND}]|\\[^{_BEYOND}])*')|(?P<punct><=|>=|!=|[=<>(),*]))?""",
    re.VERBOSE,
)
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_DATEISH = re.compile(r"\d{4}-\d{2}-\d{2}")
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


def _token_image(token: _Token) -> str:
    if token.kind == "keyword":
        return _NAMED_KEYWORDS.get(token.value, f'"{token.value}"')
    if token.kind == "punct":
        return f'"{token.value}"'
    return {"word": "<IDENTIFIER>", "string": "<STRING>"}.get(token.kind, "<NUMBER>")


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
