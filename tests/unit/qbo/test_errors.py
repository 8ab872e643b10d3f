"""Fault parsing and the advice every QBO error code gets (reference §7)."""

from __future__ import annotations

import json

import pytest

from shared.errors import ParkedError, PermanentError, RetryableError
from shared.qbo.errors import (
    QboFault,
    QboForbidden,
    QboStale,
    QboThrottled,
    QboUnauthorized,
    advise,
    error_for,
    parse_fault,
)

# Reference §7.4, in full: code → (HTTP status QBO answers with, category, retryable).
TABLE = {
    "120": (403, "authorization", False),
    "500": (400, "configuration", False),
    "610": (400, "needs_person", False),
    "620": (400, "needs_person", False),
    "2010": (400, "configuration", False),
    "2020": (400, "needs_person", False),
    "2030": (400, "configuration", False),
    "2050": (400, "needs_person", False),
    "2170": (400, "configuration", False),
    "2210": (400, "needs_person", False),
    "2500": (400, "configuration", False),
    "3001": (429, "transient", True),
    "3100": (403, "authorization", False),
    "3200": (401, "authorization", False),
    "4000": (400, "configuration", False),
    "4001": (400, "configuration", False),
    "4002": (400, "transient", True),
    "5010": (400, "transient", True),
    "6000": (400, "needs_person", False),
    "6140": (400, "needs_person", False),
    "6190": (400, "needs_person", False),
    "6210": (400, "needs_person", False),
    "6240": (400, "needs_person", False),
    "6540": (400, "needs_person", False),
    "10000": (500, "transient", True),
}


def fault(code: str, status: int = 400, *, detail: str = "d") -> QboFault:
    return QboFault(code, "m", detail, "", status, "tid-1", {})


@pytest.mark.parametrize("code", sorted(TABLE))
def test_every_error_code_in_the_table_produces_its_own_message_hint_and_category(code: str) -> None:
    status, category, retryable = TABLE[code]
    advice = advise(fault(code, status))
    default = advise(fault("999999", 400))
    assert advice.message
    assert advice.message != default.message
    assert advice.hint
    assert (advice.category, advice.retryable) == (category, retryable)


@pytest.mark.parametrize("code", sorted(TABLE))
def test_every_error_code_becomes_an_error_of_the_right_kind_keeping_raw_fault_and_tid(code: str) -> None:
    status, _, retryable = TABLE[code]
    error = error_for(fault(code, status))
    assert error.fault.intuit_tid == "tid-1"
    assert error.code == code
    if code in ("120", "3100", "3200"):
        assert isinstance(error, ParkedError)
    elif retryable:
        assert isinstance(error, RetryableError)
    else:
        assert isinstance(error, PermanentError)


def test_special_codes_get_their_own_classes() -> None:
    assert isinstance(error_for(fault("3001", 429)), QboThrottled)
    assert isinstance(error_for(fault("5010")), QboStale)
    assert isinstance(error_for(fault("3200", 401)), QboUnauthorized)
    assert isinstance(error_for(fault("3100", 403)), QboForbidden)


def test_unknown_codes_get_advice_from_their_status() -> None:
    assert advise(fault("7777", 503)).retryable
    assert advise(fault("7777", 503)).category == "transient"
    assert not advise(fault("7777", 400)).retryable


def test_data_service_fault_is_parsed_with_element_and_tid() -> None:
    body = {
        "Fault": {
            "Error": [
                {
                    "Message": "Duplicate Document Number Error",
                    "Detail": "used",
                    "code": "6140",
                    "element": "DocNumber",
                }
            ],
            "type": "ValidationFault",
        },
        "time": "2026-11-21T10:00:00.000-08:00",
    }
    found = parse_fault(400, json.dumps(body).encode(), {"intuit_tid": "abc"})
    assert found is not None
    assert (found.code, found.element, found.intuit_tid, found.http_status) == (
        "6140",
        "DocNumber",
        "abc",
        400,
    )
    assert found.raw == body


def test_gateway_lowercase_fault_is_parsed() -> None:
    body = {
        "warnings": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200",
                    "detail": "Token expired",
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "time": 1730024394085,
    }
    found = parse_fault(401, json.dumps(body).encode(), {})
    assert found is not None
    assert (found.code, found.detail, found.element) == ("3200", "Token expired", "")


def test_xml_throttle_fault_is_parsed_even_when_json_was_asked_for() -> None:
    xml = (
        b'<IntuitResponse time="2017-07-30T22:45:22.933-07:00" xmlns="http://schema.intuit.com/finance/v3">'
        b'<Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; '
        b"statusCode=429</Message><Detail>The request limit was reached.  Try again later</Detail></Error>"
        b"</Fault></IntuitResponse>"
    )
    found = parse_fault(429, xml, {})
    assert found is not None
    assert found.code == "3001"
    assert found.detail.startswith("The request limit")


def test_a_200_carrying_a_fault_is_a_fault() -> None:
    body = {
        "Fault": {"Error": [{"Message": "Unsupported Operation", "code": "500"}], "type": "ValidationFault"}
    }
    found = parse_fault(200, json.dumps(body).encode(), {})
    assert found is not None
    assert found.code == "500"


def test_a_200_without_a_fault_is_not_a_fault() -> None:
    assert parse_fault(200, b'{"Invoice": {"Id": "1"}}', {}) is None


def test_a_bare_gateway_timeout_becomes_a_retryable_fault_named_after_its_status() -> None:
    found = parse_fault(504, b"Gateway Timeout", {"intuit_tid": "t"})
    assert found is not None
    assert found.code == "504"
    assert advise(found).retryable
