"""Auth settings: production refuses to run without token encryption keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from services.auth.settings import AuthSettings

STRONG = SecretStr("x" * 40)


def production(**overrides: object) -> AuthSettings:
    values: dict[str, object] = {
        "environment": "production",
        "admin_api_key": STRONG,
        "internal_token": STRONG,
        "intuit_client_secret": STRONG,
        "rabbitmq_management_password": STRONG,
        "database_url": "postgresql+asyncpg://qbb:Hs8dk2LqPz0vWm4nR7@db:5432/qbo_bridge",
        "amqp_url": "amqp://qbb-auth:Xq7vLp2Rk9sTn4wZ8m@broker:5672/",
        **overrides,
    }
    return AuthSettings.model_validate(values)


def test_production_without_encryption_keys_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="QBB_TOKEN_ENCRYPTION_KEYS"):
        production()


def test_production_with_a_key_starts() -> None:
    settings = production(token_encryption_keys=SecretStr(Fernet.generate_key().decode()))
    assert settings.redirect_uri == "http://127.0.0.1:8091/v1/oauth/callback"


def test_development_defaults_point_at_intuit() -> None:
    settings = AuthSettings(environment="development")
    assert settings.intuit_discovery_url.startswith("https://developer.intuit.com/.well-known/")
    assert settings.qbo_api_base == "https://quickbooks.api.intuit.com"


def test_production_refuses_the_default_management_password_and_a_short_webhook_retry_schedule() -> None:
    key = SecretStr(Fernet.generate_key().decode())
    with pytest.raises(ValidationError, match="QBB_RABBITMQ_MANAGEMENT_PASSWORD"):
        production(token_encryption_keys=key, rabbitmq_management_password=SecretStr("guest"))
    with pytest.raises(ValidationError, match="24 hours"):
        production(token_encryption_keys=key, webhook_retry_schedule_seconds=(5, 60))
