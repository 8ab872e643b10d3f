"""QBO faults turned into our error types, with advice a person can act on (reference §7).

Every fault code of reference §7.4 has an entry in ``ADVICE``; anything else gets advice from its
HTTP status. The raw fault and Intuit's ``intuit_tid`` are always kept for support tickets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.errors import BridgeError, ParkedError, PermanentError, RetryableError

Category = Literal["transient", "authorization", "needs_person", "configuration"]


@dataclass(frozen=True)
class QboFault:
    """The first error of a QBO fault, plus where it came from."""

    code: str
    message: str
    detail: str
    element: str
    http_status: int
    intuit_tid: str | None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FaultAdvice:
    """What a fault means for a person: the problem in words, the fix, and whether to retry."""

    message: str
    hint: str
    retryable: bool
    category: Category


def _a(message: str, hint: str, category: Category, *, retryable: bool = False) -> FaultAdvice:
    return FaultAdvice(message=message, hint=hint, retryable=retryable, category=category)


_RECONNECT = "Reconnect QuickBooks from the bridge's connection page (an admin of the company must approve)."

ADVICE: Mapping[str, FaultAdvice] = {
    "120": _a(
        "QuickBooks refused access: the user who connected the company no longer has admin access.",
        "Ask a QuickBooks company admin to reconnect, or restore the connecting user's admin rights.",
        "authorization",
    ),
    "500": _a(
        "QuickBooks does not support this operation (or the text contains characters it cannot read).",
        "Check that the operation is allowed for this kind of record and that text is plain UTF-8.",
        "configuration",
    ),
    "610": _a(
        "A record this write uses no longer exists or was made inactive in QuickBooks.",
        "Reactivate the customer, vendor, item or account in QuickBooks, or map it to an active one.",
        "needs_person",
    ),
    "620": _a(
        "The transaction cannot be linked to the one it refers to.",
        "Check that the linked transaction exists, is open and belongs to the same customer or vendor.",
        "needs_person",
    ),
    "2010": _a(
        "QuickBooks rejected a field it does not know or that is not allowed here.",
        "This is a bridge mapping problem: report it with the raw fault; the field is named in 'element'.",
        "configuration",
    ),
    "2020": _a(
        "A required value is missing.",
        "Fill in the field named in the detail on the platform (or set a default in the mapping).",
        "needs_person",
    ),
    "2030": _a(
        "A QuickBooks id in the request is malformed.",
        "Check the mappings: an id must be the number QuickBooks shows, not a name.",
        "configuration",
    ),
    "2050": _a(
        "A text is longer (or shorter) than QuickBooks allows.",
        "Shorten the field named in the detail on the platform and send the record again.",
        "needs_person",
    ),
    "2170": _a(
        "A value is not one QuickBooks accepts for this field.",
        "Use one of the values QuickBooks allows for the field named in the detail.",
        "configuration",
    ),
    "2210": _a(
        "An email address is not valid.",
        "Correct the email address on the platform (it needs an '@' and a domain).",
        "needs_person",
    ),
    "2500": _a(
        "The write refers to a QuickBooks record that does not exist, is inactive, or cannot be used here.",
        "Check the mapping of the field named in the detail (tax code, item, account, term, class...).",
        "configuration",
    ),
    "3001": _a(
        "QuickBooks is throttling requests for this company.",
        "Nothing to do: the bridge slows down and retries by itself.",
        "transient",
        retryable=True,
    ),
    "3100": _a(
        "This app is no longer authorized for the QuickBooks company (disconnected, subscription or scope).",
        _RECONNECT,
        "authorization",
    ),
    "3200": _a(
        "QuickBooks did not accept the access token (expired or revoked).",
        "The bridge refreshes the token by itself; if it keeps failing, " + _RECONNECT.lower(),
        "authorization",
    ),
    "4000": _a(
        "QuickBooks could not parse a query the bridge sent.",
        "A bridge problem: report it with the raw fault.",
        "configuration",
    ),
    "4001": _a(
        "QuickBooks refused a query the bridge sent as invalid.",
        "A bridge problem: report it with the raw fault.",
        "configuration",
    ),
    "4002": _a(
        "QuickBooks failed to run a query.",
        "Usually temporary; the bridge retries. If it persists, report it with the raw fault.",
        "transient",
        retryable=True,
    ),
    "5010": _a(
        "Someone changed this record in QuickBooks at the same time.",
        "Nothing to do: the bridge re-reads the record and applies the change again.",
        "transient",
        retryable=True,
    ),
    "6000": _a(
        "QuickBooks refused the record for a business rule.",
        "Read the detail (e.g. a missing tax rate or amounts that do not add up) and correct the record.",
        "needs_person",
    ),
    "6140": _a(
        "The document number is already used by another transaction in QuickBooks.",
        "Give the document a new number on the platform, or allow duplicate numbers in the sync settings.",
        "needs_person",
    ),
    "6190": _a(
        "The QuickBooks company's subscription is not active (ended, cancelled or a billing problem).",
        "The company's owner must fix the QuickBooks subscription; syncing resumes after a retry.",
        "needs_person",
    ),
    "6210": _a(
        "The transaction is dated in a closed accounting period.",
        "Date it after the company's closing date, or ask the accountant to reopen the period.",
        "needs_person",
    ),
    "6240": _a(
        "The name is already used by another customer, vendor or employee (or item) in QuickBooks.",
        "Rename one of them, or map the platform record to the existing QuickBooks one.",
        "needs_person",
    ),
    "6540": _a(
        "The payment or receipt is part of a bank deposit and cannot be changed.",
        "Remove it from the deposit in QuickBooks first, then retry.",
        "needs_person",
    ),
    "10000": _a(
        "QuickBooks had an internal error.",
        "Nothing to do: the bridge retries by itself.",
        "transient",
        retryable=True,
    ),
}


def advise(fault: QboFault) -> FaultAdvice:
    """The advice for ``fault``: its code's entry, else a default from the HTTP status."""
    known = ADVICE.get(fault.code)
    if known is not None:
        return known
    status = fault.http_status
    if status == 429:
        return ADVICE["3001"]
    if status == 401:
        return ADVICE["3200"]
    if status == 403:
        return ADVICE["3100"]
    if status >= 500 or status in (408, 0):
        return _a(
            f"QuickBooks could not be reached or failed (HTTP {status}).",
            "Nothing to do: the bridge retries by itself.",
            "transient",
            retryable=True,
        )
    return _a(
        f"QuickBooks refused the request ({fault.code}: {fault.message}).",
        "Read the detail; if it names a field, correct it on the platform and retry.",
        "needs_person",
    )


def parse_fault(status: int, body: bytes, headers: Mapping[str, str]) -> QboFault | None:
    """The fault in a response (JSON ``Fault``, the gateway's lowercase ``fault``, or XML), or None.

    A 200 may carry a Fault too; a non-2xx without a readable fault becomes one named after its status.
    """
    tid = headers.get("intuit_tid")
    parsed = _json(body)
    if isinstance(parsed, dict):
        fault = _from_json(parsed, status, tid)
        if fault is not None or 200 <= status < 300:
            return fault
    elif 200 <= status < 300:
        return None
    xml = _from_xml(body, status, tid)
    if xml is not None:
        return xml
    text = body[:500].decode("utf-8", "replace").strip()
    return QboFault(str(status), f"HTTP {status}", text, "", status, tid, {"body": text})


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _from_json(doc: dict[str, Any], status: int, tid: str | None) -> QboFault | None:
    fault = doc.get("Fault") or doc.get("fault")
    if not isinstance(fault, dict):
        return None
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}

    def pick(name: str) -> str:
        value = first.get(name.capitalize() if name != "code" else name) or first.get(name)
        return "" if value is None else str(value)

    code = pick("code") or str(status)
    return QboFault(code, pick("message"), pick("detail"), pick("element"), status, tid, doc)


_XML_CODE = re.compile(rb'<Error[^>]*\bcode="([^"]+)"')
_XML_TAG = {
    name: re.compile(rb"<" + name + rb">(.*?)</" + name + rb">", re.S) for name in (b"Message", b"Detail")
}


def _from_xml(body: bytes, status: int, tid: str | None) -> QboFault | None:
    # Regexes rather than an XML parser: the body is untrusted and only three values are needed.
    code = _XML_CODE.search(body)
    if code is None:
        return None
    found = {
        k.decode(): (m.group(1).decode("utf-8", "replace").strip() if (m := p.search(body)) else "")
        for k, p in _XML_TAG.items()
    }
    raw = {"xml": body[:2000].decode("utf-8", "replace")}
    return QboFault(code.group(1).decode(), found["Message"], found["Detail"], "", status, tid, raw)


class QboError(BridgeError):
    """A fault QBO answered with, translated; ``fault`` keeps the raw answer and ``intuit_tid``."""

    def __init__(self, fault: QboFault, advice: FaultAdvice | None = None) -> None:
        self.fault = fault
        self.advice = advice or advise(fault)
        super().__init__(self.advice.message, code=fault.code, hint=self.advice.hint)

    def __str__(self) -> str:
        detail = f" ({self.fault.detail})" if self.fault.detail else ""
        return f"QBO {self.fault.code}: {self.advice.message}{detail} [intuit_tid={self.fault.intuit_tid}]"


class QboRetryable(QboError, RetryableError):
    """A transient QBO failure: the same request may succeed later (reuse its requestid)."""


class QboPermanent(QboError, PermanentError):
    """QBO refused the request itself; a person must change something."""


class QboThrottled(QboRetryable):
    """429 / 3001: the realm must slow down."""


class QboStale(QboRetryable):
    """5010: the SyncToken was old; re-read the object and write again."""


class QboForbidden(QboError, ParkedError):
    """403 / 3100 / 120: the app may not use this company until someone reconnects it."""


class QboUnauthorized(QboForbidden):
    """401 / 3200: the access token was refused (even after a refresh)."""


class ConnectionUnusable(ParkedError):
    """The connection needs reauthorization or was revoked: park the work until it is re-established."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message, code=f"connection_{status}", hint=_RECONNECT)
        self.status = status


class QboUnavailable(RetryableError):
    """QBO could not be reached or its reply was lost; for a write the outcome is unknown."""

    def __init__(self, message: str, *, outcome_unknown: bool) -> None:
        super().__init__(message, code="qbo_unreachable", hint="Nothing to do: the bridge retries by itself.")
        self.outcome_unknown = outcome_unknown


def error_for(fault: QboFault) -> QboError:
    """The exception class matching ``fault``."""
    advice = advise(fault)
    if fault.code == "3001" or fault.http_status == 429:
        return QboThrottled(fault, advice)
    if fault.code == "3200" or fault.http_status == 401:
        return QboUnauthorized(fault, advice)
    if fault.code in ("3100", "120") or fault.http_status == 403:
        return QboForbidden(fault, advice)
    if fault.code == "5010":
        return QboStale(fault, advice)
    if advice.retryable:
        return QboRetryable(fault, advice)
    return QboPermanent(fault, advice)
