"""Tokens at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a list of keys, so keys can rotate.

``cryptography``'s ``MultiFernet`` does the work: it encrypts with the first key, decrypts with
any, and ``rotate()`` re-encrypts under the first. We only add key parsing and a key id.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from functools import cached_property

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

# Only for development and tests without a configured key: stable across restarts so a local
# database stays readable, and worthless as a secret (production refuses to start without keys).
_DEV_KEY_SEED = b"qbo-bridge development token encryption key; never use in production"


class TokenDecryptionError(Exception):
    """No configured key decrypts a stored token (a key was removed before re-encryption)."""


def dev_key() -> str:
    """The fixed development key."""
    return base64.urlsafe_b64encode(hashlib.sha256(_DEV_KEY_SEED).digest()).decode()


def key_id(key: str) -> str:
    """A short, non-secret name of a key (its hash prefix), stored beside each ciphertext."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def parse_keys(text: str) -> list[str]:
    """The comma- or whitespace-separated keys of ``QBB_TOKEN_ENCRYPTION_KEYS``, in order."""
    keys = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"QBB_TOKEN_ENCRYPTION_KEYS: key #{position} is not a Fernet key (32 url-safe base64 bytes)"
            ) from None
    return keys


@dataclass(frozen=True)
class TokenCipher:
    """Encrypts with the first key, decrypts with any."""

    keys: tuple[str, ...]

    @classmethod
    def from_setting(cls, text: str, *, allow_dev_key: bool) -> TokenCipher:
        """The cipher for a settings value; without keys, the dev key when allowed, else an error."""
        keys = parse_keys(text)
        if not keys:
            if not allow_dev_key:
                raise ValueError("QBB_TOKEN_ENCRYPTION_KEYS is not set")
            log.warning("QBB_TOKEN_ENCRYPTION_KEYS not set: using the fixed development key")
            keys = [dev_key()]
        return cls(tuple(keys))

    @cached_property
    def _fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(k) for k in self.keys])

    @property
    def primary_key_id(self) -> str:
        """The id of the key new ciphertexts are made with."""
        return key_id(self.keys[0])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenDecryptionError("no configured key decrypts this token") from None

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext under the primary key."""
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenDecryptionError("no configured key decrypts this token") from None
