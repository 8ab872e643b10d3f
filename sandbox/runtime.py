"""The one object routes share: state, limits, faults, webhook dispatcher; JSON helpers."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from decimal import Decimal

from starlette.responses import Response

from sandbox.limits import Faults, Limits
from sandbox.ops import Change
from sandbox.state import Company, State
from sandbox.webhooks import Dispatcher, Event


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_encoder = json.JSONEncoder(default=_default, separators=(",", ":"), ensure_ascii=False)


def dumps(value: object) -> bytes:
    return _encoder.encode(value).encode()


def json_response(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return raw_json(dumps(value), status, headers)


def raw_json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json;charset=UTF-8", headers=headers)


def new_tid() -> str:
    raw = os.urandom(16).hex()
    return f"1-{raw[:8]}-{raw[8:]}"


@dataclass
class Runtime:
    state: State = field(default_factory=State)
    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    dispatcher: Dispatcher = field(init=False)

    def __post_init__(self) -> None:
        self.dispatcher = Dispatcher(
            apps=lambda: self.state.apps, time_scale=lambda: self.limits.settings.time_scale
        )

    def emit(self, company: Company, changes: list[Change]) -> None:
        """Queue webhook events for every app connected to the company that has a webhook URL."""
        if not changes:
            return
        client_ids = sorted(
            {
                g.client_id
                for g in self.state.active_grants(company.realm_id)
                if (app := self.state.apps.get(g.client_id)) is not None and app.webhook_url
            }
        )
        if not client_ids:
            return
        now = time.time()
        events = [Event(company.realm_id, c.entity, c.entity_id, c.operation, now) for c in changes]
        self.dispatcher.notify(client_ids, events)

    def reset(self) -> None:
        self.state = State()
        self.limits.reset()
        self.faults = Faults()
        self.dispatcher.reset()
