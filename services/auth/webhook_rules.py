"""HTTP egress rules (architecture §5a), pure: which events an endpoint takes, when to try again,
and the Standard Webhooks headers of one delivery (signed with the ``standardwebhooks`` library)."""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import secrets
from collections.abc import Sequence

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A signing secret in the spec's form: ``whsec_`` and 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def wants(event_types: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``event_types`` (exact, or ``*`` patterns such as
    ``sync.*`` or ``qbo.*.changed``) takes ``event_type``."""
    return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in event_types)


def next_delay(attempts_made: int, schedule: Sequence[float]) -> float | None:
    """Seconds until the next attempt after ``attempts_made`` failed ones; None: give up."""
    if attempts_made > len(schedule):
        return None
    return float(schedule[attempts_made - 1]) if attempts_made >= 1 else 0.0


def signed_headers(*, secret: str, message_id: str, body: str, now: dt.datetime) -> dict[str, str]:
    """``webhook-id`` (the same on every retry), ``webhook-timestamp`` and ``webhook-signature``."""
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=now, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/cloudevents+json",
    }


def succeeded(status_code: int) -> bool:
    """A 2xx answer is a delivery; anything else, or no answer, is tried again."""
    return 200 <= status_code < 300
