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
    """A message that can never be processed as sent; ``problems`` says exactly why."""

    def __init__(self, summary: str, problems: Sequence[Problem] = ()) -> None:
        detail = "; ".join(f"{p.path}: {p.message}" for p in problems)
        super().__init__(f"{summary}: {detail}" if detail else summary)
        self.summary = summary
        self.problems = list(problems)


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


def decode_envelope(body: bytes | str | dict[str, Any]) -> Envelope:
    """Parse a structured CloudEvent; malformed JSON or a wrong envelope raise ``InvalidMessage``."""
    try:
        raw = json.loads(body) if isinstance(body, bytes | str) else body
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidMessage("malformed JSON", [Problem("$", str(exc))]) from None
    if not isinstance(raw, dict):
        raise InvalidMessage("not a CloudEvents envelope", [Problem("$", "expected a JSON object")])
    try:
        return Envelope.model_validate(raw)
    except ValidationError as exc:
        raise InvalidMessage("invalid CloudEvents envelope", problems_from(exc)) from None


def decode_data(envelope: Envelope) -> Contract:
    """The envelope's ``data`` as its catalogue model; unknown types and bad data raise ``InvalidMessage``."""
    row = CATALOGUE.get(envelope.type)
    if row is None:
        raise InvalidMessage(
            f"unknown event type '{envelope.type}'", [Problem("$.type", "not in the event catalogue")]
        )
    try:
        return row.model.model_validate(envelope.data)
    except ValidationError as exc:
        raise InvalidMessage(f"invalid data for {envelope.type}", problems_from(exc, root="$.data")) from None
