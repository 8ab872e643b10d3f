"""Decoding broker and HTTP bodies into envelopes and typed data, with problems named by JSON path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from shared.contracts.catalogue import CATALOGUE
from shared.contracts.common import Contract
from shared.contracts.envelope import Envelope


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a message: where (a JSON path) and what, in words."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidMessage(ValueError):
    """A message that can never be processed as sent; ``problems`` says exactly why.

    ``kind`` sorts it for the dead-letter queue: ``invalid``, or ``too_large`` for a body over the limit.
    """

    def __init__(self, summary: str, problems: Sequence[Problem] = (), *, kind: str = "invalid") -> None:
        detail = "; ".join(f"{p.path}: {p.message}" for p in problems)
        super().__init__(f"{summary}: {detail}" if detail else summary)
        self.summary = summary
        self.problems = list(problems)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on a JSON body, checked before anything else reads it (nothing here can exhaust memory)."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_string_chars: int = 100_000
    max_number_chars: int = 40
    max_items: int = 10_000


DEFAULT_LIMITS = Limits()
_MAX_PROBLEMS = 10


class _Refused(ValueError):
    """Raised from inside ``json.loads`` hooks: a number or constant the contract never allows."""


def _number_parsers(limits: Limits) -> dict[str, Any]:
    def parse_int(text: str) -> int:
        if len(text) > limits.max_number_chars:
            raise _Refused(f"a number of {len(text)} digits; at most {limits.max_number_chars} are allowed")
        return int(text)

    def parse_float(text: str) -> float:
        if len(text) > limits.max_number_chars:
            raise _Refused(
                f"a number of {len(text)} characters; at most {limits.max_number_chars} are allowed"
            )
        return float(text)

    def parse_constant(text: str) -> Any:
        raise _Refused(f"{text} is not a JSON number")

    return {"parse_int": parse_int, "parse_float": parse_float, "parse_constant": parse_constant}


def load_json(body: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """``json.loads`` within ``limits`` (size, nesting, items, numbers); breaches raise ``InvalidMessage``.

    Strings are checked where they are read (``decode_envelope``, ``decode_data``), so a bad string
    in ``data`` still leaves a readable envelope to answer.
    """
    size = len(body.encode() if isinstance(body, str) else body)
    if size > limits.max_bytes:
        raise InvalidMessage(
            "body too large",
            [Problem("$", f"body of {size} bytes is over the limit of {limits.max_bytes} bytes")],
            kind="too_large",
        )
    try:
        raw = json.loads(body, **_number_parsers(limits))
    except RecursionError:
        raise InvalidMessage("malformed JSON", [Problem("$", _too_deep(limits))]) from None
    except _Refused as exc:
        raise InvalidMessage("malformed JSON", [Problem("$", str(exc))]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidMessage("malformed JSON", [Problem("$", str(exc))]) from None
    _raise_if_any("refused JSON", check_bounds(raw, limits, strings=False))
    return raw


def check_bounds(
    value: Any, limits: Limits = DEFAULT_LIMITS, *, root: str = "$", strings: bool = True
) -> list[Problem]:
    """What in a parsed JSON value breaks ``limits`` (iterative: no recursion to exhaust)."""
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(value, ())]
    while stack and len(problems) < _MAX_PROBLEMS:
        item, loc = stack.pop()
        if isinstance(item, str):
            problem = _string_problem(item, limits) if strings else None
            if problem:
                problems.append(Problem(json_path(loc, root=root), problem))
            continue
        if not isinstance(item, dict | list):
            continue
        if len(loc) >= limits.max_depth:
            problems.append(Problem(json_path(loc, root=root), _too_deep(limits)))
            continue
        if len(item) > limits.max_items:
            problems.append(
                Problem(json_path(loc, root=root), f"{len(item)} items; at most {limits.max_items}")
            )
            continue
        if isinstance(item, list):
            stack.extend((v, (*loc, i)) for i, v in enumerate(item))
            continue
        for key, v in item.items():
            problem = _string_problem(key, limits) if strings else None
            if problem:
                problems.append(Problem(json_path(loc, root=root), f"a key {problem}"))
            stack.append((v, (*loc, key)))
    return problems


def _raise_if_any(summary: str, problems: list[Problem]) -> None:
    if problems:
        raise InvalidMessage(summary, problems)


def _string_problem(text: str, limits: Limits) -> str | None:
    if len(text) > limits.max_string_chars:
        return f"a string of {len(text)} characters; at most {limits.max_string_chars}"
    if "\x00" in text:
        return "contains a NUL character (U+0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (invalid Unicode)"
    return None


def _too_deep(limits: Limits) -> str:
    return f"nested deeper than {limits.max_depth} levels"


def json_path(loc: Sequence[int | str], *, root: str = "$") -> str:
    """``("data", "lines", 0, "amount")`` → ``$.data.lines[0].amount``."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def problems_from(error: ValidationError, *, root: str = "$") -> list[Problem]:
    """Pydantic's errors as ``Problem``s; 'Value error, ' prefixes stripped for readability."""
    return [
        Problem(json_path(e["loc"], root=root), e["msg"].removeprefix("Value error, "))
        for e in error.errors(include_url=False)
    ]


def decode_envelope(body: bytes | str | dict[str, Any], limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """A structured CloudEvent within ``limits``; bad JSON or a wrong envelope raise ``InvalidMessage``."""
    if isinstance(body, bytes | str):
        raw = load_json(body, limits)
    else:
        _raise_if_any("refused JSON", check_bounds(body, limits, strings=False))
        raw = body
    if not isinstance(raw, dict):
        raise InvalidMessage("not a CloudEvents envelope", [Problem("$", "expected a JSON object")])
    attributes = {k: v for k, v in raw.items() if k != "data"}
    _raise_if_any("invalid CloudEvents envelope", check_bounds(attributes, limits))
    try:
        return Envelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidMessage("invalid CloudEvents envelope", problems_from(exc)) from None


def decode_data(envelope: Envelope, limits: Limits = DEFAULT_LIMITS) -> Contract:
    """The envelope's ``data`` as its catalogue model; unknown types and bad data raise ``InvalidMessage``."""
    row = CATALOGUE.get(envelope.type)
    if row is None:
        raise InvalidMessage(
            f"unknown event type '{envelope.type}'", [Problem("$.type", "not in the event catalogue")]
        )
    _raise_if_any(f"invalid data for {envelope.type}", check_bounds(envelope.data, limits, root="$.data"))
    try:
        return row.model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidMessage(f"invalid data for {envelope.type}", problems_from(exc, root="$.data")) from None
