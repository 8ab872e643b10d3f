"""Intuit webhook signatures: ``intuit-signature`` = base64(HMAC-SHA256(verifier token, raw body)).

The same algorithm covers the legacy and the CloudEvents payloads (reference §11.1). Verify the
raw bytes before parsing: re-serialised JSON would not match.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

SIGNATURE_HEADER = "intuit-signature"


def sign(body: bytes, verifier_token: str) -> str:
    """The ``intuit-signature`` Intuit sends for ``body`` under ``verifier_token``."""
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verifier_tokens(raw: str) -> tuple[str, ...]:
    """The tokens in a comma-separated setting; several are accepted while one is being rotated."""
    return tuple(token.strip() for token in raw.split(",") if token.strip())


def verify(body: bytes, signature: str | None, tokens: Iterable[str]) -> bool:
    """True when ``signature`` is the signature of ``body`` under one of ``tokens``.

    Args:
        body: the request body exactly as received.
        signature: the ``intuit-signature`` header value (None when absent).
        tokens: every verifier token currently accepted.
    """
    if not signature:
        return False
    try:
        given = signature.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    # compare_digest on every token: how long the answer takes reveals nothing about the signature.
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(given, sign(body, token).encode("ascii"))
    return matched
