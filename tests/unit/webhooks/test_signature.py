"""Intuit's webhook signature: HMAC-SHA256 of the raw body under the verifier token, base64."""

from __future__ import annotations

import base64
import hashlib
import hmac

from shared.qbo.signature import sign, verifier_tokens, verify

BODY = b'{"eventNotifications":[]}'


def test_sign_is_base64_hmac_sha256_of_the_raw_body() -> None:
    expected = base64.b64encode(hmac.new(b"token-1", BODY, hashlib.sha256).digest()).decode()
    assert sign(BODY, "token-1") == expected


def test_a_valid_signature_verifies() -> None:
    assert verify(BODY, sign(BODY, "token-1"), ["token-1"])


def test_a_missing_signature_does_not_verify() -> None:
    assert not verify(BODY, None, ["token-1"])
    assert not verify(BODY, "", ["token-1"])


def test_a_signature_of_another_body_does_not_verify() -> None:
    assert not verify(BODY + b" ", sign(BODY, "token-1"), ["token-1"])


def test_a_signature_under_another_token_does_not_verify() -> None:
    assert not verify(BODY, sign(BODY, "other"), ["token-1"])


def test_during_a_rotation_either_token_verifies() -> None:
    tokens = verifier_tokens("new-token, old-token")
    assert verify(BODY, sign(BODY, "old-token"), tokens)
    assert verify(BODY, sign(BODY, "new-token"), tokens)


def test_garbage_in_the_header_does_not_verify() -> None:
    assert not verify(BODY, "ünïcode", ["token-1"])
    assert not verify(BODY, "not base64 at all", ["token-1"])


def test_verifier_tokens_ignore_blanks() -> None:
    assert verifier_tokens(" a ,, b ,") == ("a", "b")
