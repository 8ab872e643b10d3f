"""The error taxonomy every layer speaks: retry it later, or give up and tell a person why."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of qbo-bridge's own errors."""

    def __init__(self, message: str, *, code: str = "error", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint


class RetryableError(BridgeError):
    """A transient failure (timeout, throttle, 5xx, lock): the same input may succeed later."""


class PermanentError(BridgeError):
    """The input itself is wrong or not allowed: retrying cannot help, a person must act."""


class ParkedError(BridgeError):
    """Work that must wait for something outside (a reconnect) and then resume by itself."""
