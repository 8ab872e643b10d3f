"""Settings refuse placeholder secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from shared.settings import ServiceSettings

STRONG = SecretStr("k" * 8 + "Zq3vR9pLmN2x")
REAL_URLS = {
    "database_url": "postgresql+asyncpg://qbb:Hs8dk2LqPz0vWm4nR7@db:5432/qbo_bridge",
    "amqp_url": "amqp://qbb-mapper:Xq7vLp2Rk9sTn4wZ8m@broker:5672/",
}


def test_a_deployment_that_says_nothing_is_production_and_refuses_the_placeholders() -> None:
    with pytest.raises(ValidationError, match="QBB_ADMIN_API_KEY"):
        ServiceSettings()


def test_a_weak_token_hidden_in_a_rotation_list_is_refused() -> None:
    with pytest.raises(ValidationError, match="QBB_INTERNAL_TOKEN"):
        ServiceSettings(admin_api_key=STRONG, internal_token=SecretStr(f"{STRONG.get_secret_value()},dev"))


def test_development_accepts_the_development_defaults() -> None:
    settings = ServiceSettings(environment="development")
    assert settings.admin_api_key.get_secret_value().startswith("dev-")


def test_production_refuses_placeholder_secrets_naming_each_variable() -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceSettings(environment="production", internal_token=STRONG)
    message = str(caught.value)
    assert "QBB_ADMIN_API_KEY" in message
    assert "QBB_INTERNAL_TOKEN" not in message


@pytest.mark.parametrize("weak", ["changeme", "dev-something-long-enough", "short"])
def test_production_refuses_each_kind_of_placeholder(weak: str) -> None:
    with pytest.raises(ValidationError, match="QBB_INTERNAL_TOKEN"):
        ServiceSettings(environment="production", admin_api_key=STRONG, internal_token=SecretStr(weak))


def test_production_accepts_real_secrets() -> None:
    settings = ServiceSettings.model_validate(
        {"environment": "production", "admin_api_key": STRONG, "internal_token": STRONG, **REAL_URLS}
    )
    assert settings.environment == "production"


@pytest.mark.parametrize(
    ("field", "url", "named"),
    [
        ("amqp_url", "amqp://guest:guest@127.0.0.1:5672/", "QBB_AMQP_URL"),
        ("amqp_url", "amqp://guest:Xq7vLp2Rk9sTn4wZ8m@broker:5672/", "QBB_AMQP_URL"),
        ("amqp_url", "amqp://qbb:changeme@broker:5672/", "QBB_AMQP_URL"),
        ("database_url", "postgresql+asyncpg://postgres@127.0.0.1:5432/qbo_bridge", "QBB_DATABASE_URL"),
        ("database_url", "postgresql+asyncpg://postgres:postgres@db/qbo_bridge", "QBB_DATABASE_URL"),
    ],
)
def test_production_refuses_default_broker_and_database_credentials(field: str, url: str, named: str) -> None:
    values = {"environment": "production", "admin_api_key": STRONG, "internal_token": STRONG, **REAL_URLS}
    with pytest.raises(ValidationError, match=named):
        ServiceSettings.model_validate({**values, field: url})


def test_secrets_never_show_in_the_settings_repr() -> None:
    settings = ServiceSettings(environment="development", admin_api_key=STRONG)
    assert STRONG.get_secret_value() not in repr(settings)
