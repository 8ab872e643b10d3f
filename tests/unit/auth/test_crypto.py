"""Tokens at rest: encrypted, decryptable with any configured key, re-encryptable under the first."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from services.auth.crypto import TokenCipher, TokenDecryptionError, parse_keys

TOKEN = "RT1-39-H3-1785429816rcysb9dns1ofreknypnm"


def test_ciphertext_does_not_contain_the_token_and_decrypts_back() -> None:
    cipher = TokenCipher((Fernet.generate_key().decode(),))
    sealed = cipher.encrypt(TOKEN)
    assert TOKEN not in sealed
    assert cipher.decrypt(sealed) == TOKEN


def test_an_old_key_still_decrypts_after_rotation_and_rotate_moves_to_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_with_old = TokenCipher((old,)).encrypt(TOKEN)
    rotated_cipher = TokenCipher((new, old))
    assert rotated_cipher.decrypt(sealed_with_old) == TOKEN
    rotated = rotated_cipher.rotate(sealed_with_old)
    assert TokenCipher((new,)).decrypt(rotated) == TOKEN
    with pytest.raises(TokenDecryptionError):
        TokenCipher((old,)).decrypt(rotated)


def test_a_removed_key_fails_loudly() -> None:
    sealed = TokenCipher((Fernet.generate_key().decode(),)).encrypt(TOKEN)
    with pytest.raises(TokenDecryptionError):
        TokenCipher((Fernet.generate_key().decode(),)).decrypt(sealed)


def test_keys_are_parsed_in_order_and_validated() -> None:
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert parse_keys(f" {a} ,{b},") == [a, b]
    with pytest.raises(ValueError, match="#2"):
        parse_keys(f"{a},not-a-key")


def test_no_key_means_the_dev_key_only_where_allowed() -> None:
    dev = TokenCipher.from_setting("", allow_dev_key=True)
    assert dev.decrypt(TokenCipher.from_setting("", allow_dev_key=True).encrypt(TOKEN)) == TOKEN
    with pytest.raises(ValueError, match="not set"):
        TokenCipher.from_setting("", allow_dev_key=False)


def test_key_ids_differ_per_key_and_reveal_nothing() -> None:
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert TokenCipher((a,)).primary_key_id != TokenCipher((b,)).primary_key_id
    assert TokenCipher((a,)).primary_key_id not in a
