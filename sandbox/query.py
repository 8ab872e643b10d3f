"""The QBO query language (reference §3): evaluation of a parsed statement over stored rows.

Tokens, values and error texts live in `query_lex`, the parser and validation in `query_parse`;
this module applies QBO's comparison, ordering and paging rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import partial
from typing import Any

from sandbox.query_lex import COMPANY_TZ, QueryError, _temporal, _to_decimal
from sandbox.query_parse import Condition, Literal, Query, parse

__all__ = ["Query", "QueryError", "QueryResult", "parse", "run"]
# Ids QBO lists before all others: a US company's pseudo tax codes come first, TAX then NON.
LEADING_IDS: dict[str, tuple[str, ...]] = {"TaxCode": ("TAX", "NON")}
_SIGNS = {"=": (0,), "!=": (-1, 1), "<": (-1,), ">": (1,), "<=": (-1, 0), ">=": (0, 1)}


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


def _id_key(leading: tuple[str, ...], row: Mapping[str, Any]) -> tuple[int, int, str]:
    row_id = str(row.get("Id", ""))
    if row_id in leading:
        return (-1, leading.index(row_id), "")
    return (0, int(row_id), "") if row_id.isdigit() else (1, 0, row_id)


def run(query: Query, rows: Iterable[Mapping[str, Any]], *, today: date | None = None) -> QueryResult:
    """Filter, order and page `rows` (all rows of `query.entity`) as QBO answers the statement."""
    day = today or datetime.now(COMPANY_TZ).date()
    matched = [row for row in rows if all(_holds(c, row, day) for c in query.conditions)]
    if query.count_only:
        return QueryResult(
            rows=[], total_count=len(matched), start_position=query.start_position, max_results=0
        )
    # [U] QBO's default order; also the tie-break under ORDERBY
    matched.sort(key=partial(_id_key, LEADING_IDS.get(query.entity, ())))
    for prop, descending in reversed(query.order_by):
        matched.sort(key=partial(_row_sort_key, tuple(prop.split("."))), reverse=descending)
    begin = query.start_position - 1
    page = matched[begin : begin + query.max_results]
    return QueryResult(
        rows=page, total_count=None, start_position=query.start_position, max_results=len(page)
    )
