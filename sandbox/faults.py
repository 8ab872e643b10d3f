"""QBO error shapes: the data-service Fault, the gateway's lowercase 401/403 shape, throttling."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import qbo_time

MSG_NOT_FOUND = "Object Not Found"
DETAIL_INACTIVE = (
    "Something you're trying to use has been made inactive. Check the fields with accounts, "
    "customers, items, vendors or employees."
)
DETAIL_DELETED = "Another user has deleted this transaction."
MSG_BUSINESS = "A business validation error has occurred while processing your request"
MSG_SYSTEM = "An application error has occurred while processing your request"
THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_DETAIL = "The request limit was reached.  Try again later"


@dataclass
class QboError(Exception):
    """One QBO error; raised by rules, rendered as a Fault by the HTTP layer."""

    code: str
    message: str
    detail: str = ""
    element: str = ""
    status: int = 400
    fault_type: str = "ValidationFault"
    extra: list[QboError] = field(default_factory=list)

    def errors(self) -> list[dict[str, str]]:
        """The Fault.Error array, this error first."""
        out = [{"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}]
        for other in self.extra:
            out.extend(other.errors())
        return out

    def fault(self) -> dict[str, Any]:
        return {"Error": self.errors(), "type": self.fault_type}


def required(element: str) -> QboError:
    return QboError(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element,
    )


def invalid_ref(element: str, reason: str = "") -> QboError:
    return QboError("2500", "Invalid Reference Id", f"Invalid Reference Id : {reason or element}", element)


def inactive_ref(element: str) -> QboError:
    return QboError("610", MSG_NOT_FOUND, f"{MSG_NOT_FOUND} : {DETAIL_INACTIVE}", element)


def not_found(entity: str, entity_id: str) -> QboError:
    return QboError("610", MSG_NOT_FOUND, f"{MSG_NOT_FOUND} : {DETAIL_DELETED}", "")


def too_long(element: str, *, max_len: int, supplied: int) -> QboError:
    return QboError(
        "2050",
        "String length is either shorter or longer than supported by specification",
        "String length specified does not match the supported length. "
        f"Min:0 Max:{max_len:,} supported. Supplied length:{supplied:,}",
        element,
    )


def invalid_enum(element: str, value: object) -> QboError:
    return QboError("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element)


def invalid_property(element: str, detail: str) -> QboError:
    return QboError("2010", "Request has invalid or unsupported property", detail, element)


def duplicate_name() -> QboError:
    return QboError(
        "6240",
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee is already using this \n"
        "name. Please use a different name.",
        "",
    )


def duplicate_item_name(kind: str) -> QboError:
    return QboError(
        "6240",
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Another {kind} is already using this name. "
        "Please use a different name.",
        "",
    )


def duplicate_doc_number() -> QboError:
    return QboError(
        "6140",
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. "
        "This number has already been used.",
        "DocNumber",
    )


def stale(user: str = "QuickBooks User") -> QboError:
    return QboError(
        "5010",
        "Stale Object Error",
        f"Stale Object Error : You and {user} were working on this at the same time. "
        f"{user} finished before you did, so your work was not saved.",
        "",
    )


def business(text: str, element: str = "") -> QboError:
    return QboError("6000", MSG_BUSINESS, f"Business Validation Error: {text}", element)


def period_closed() -> QboError:
    return QboError(
        "6210",
        "Account Period Closed",
        "Account Period Closed, Cannot update transactions in a closed period.",
        "",
    )


def unsupported(detail: str) -> QboError:
    return QboError("500", "Unsupported Operation", detail, "")


def system_fault() -> QboError:
    return QboError("10000", MSG_SYSTEM, MSG_SYSTEM, "", status=500, fault_type="SystemFault")


def throttled() -> QboError:
    return QboError("3001", THROTTLE_MESSAGE, THROTTLE_DETAIL, "", status=429, fault_type="SERVICE")


def fault_body(error: QboError) -> dict[str, Any]:
    """The data-service envelope: {"Fault": {...}, "time": ...}."""
    return {"Fault": error.fault(), "time": qbo_time()}


def gateway_body(*, code: str, message: str, detail: str, fault_type: str) -> dict[str, Any]:
    """The API gateway's lowercase envelope used for 401 (3200) and 403 (3100)."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [{"message": message, "detail": detail, "code": code, "element": None}],
            "type": fault_type,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }


def auth_failed(detail: str) -> dict[str, Any]:
    return gateway_body(
        code="3200",
        message="message=AuthenticationFailed; errorCode=003200; statusCode=401",
        detail=detail,
        fault_type="AUTHENTICATION",
    )


def authz_failed() -> dict[str, Any]:
    return gateway_body(
        code="3100",
        message="message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
        detail="",
        fault_type="SERVICE",
    )
