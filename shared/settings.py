"""Settings base shared by every service: ``QBB_`` environment prefix, secrets as ``SecretStr``.

Settings are built once, in a service's ``main()`` or ``create_app()``, and passed down; nothing
reads the environment at import time.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import crashpoints

Environment = Literal["development", "test", "production"]

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/qbo_bridge"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

# Values that mean "nobody set this": accepted only in development and test, where the
# local stack fills them in; refused in production so a placeholder never guards real data.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development", "test"})
_DEV_SECRET_PREFIX = "dev-"


def is_placeholder(value: str) -> bool:
    """True when ``value`` is an obvious placeholder rather than a real secret."""
    lowered = value.strip().lower()
    return lowered in PLACEHOLDER_SECRETS or lowered.startswith(_DEV_SECRET_PREFIX) or len(lowered) < 16


def credential_problems(*, database_url: str, amqp_url: str) -> list[str]:
    """What is wrong with the credentials in the database and broker URLs, in words."""
    problems = []
    amqp = urlsplit(amqp_url)
    if (amqp.username or "guest") == "guest" or is_placeholder(unquote(amqp.password or "")):
        problems.append("QBB_AMQP_URL: the default guest user or a placeholder password")
    database = urlsplit(database_url)
    if is_placeholder(unquote(database.password or "")):
        problems.append("QBB_DATABASE_URL: no password, or a placeholder one")
    return problems


class ServiceSettings(BaseSettings):
    """What every service needs: where the database and broker are, who it is, its secrets."""

    model_config = SettingsConfigDict(env_prefix="QBB_", extra="ignore", frozen=True)

    service_name: str = "qbo-bridge"
    # Secure by default: a deployment that says nothing is production and must bring real
    # secrets; `make run`, the tests and the compose file say "development" or "test".
    environment: Environment = "production"
    database_url: str = DEFAULT_DATABASE_URL
    amqp_url: str = DEFAULT_AMQP_URL
    amqp_namespace: str = Field(
        default="", description="Prefix for the exchange and every queue; isolates tests and stacks."
    )
    http_host: str = "127.0.0.1"
    http_port: int = 0
    private_http_host: str = "127.0.0.1"
    private_http_port: int = Field(
        default=0, description="When set, admin and internal routes are served on this port only."
    )
    log_level: str = "INFO"
    prefetch: int = Field(default=32, ge=1, le=1000)
    consume_batch_size: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Messages of one queue handled in one transaction when they wait together (1: one each).",
    )
    # Connections per process are at most pool + overflow; Postgres allows 100 by default, shared
    # by every replica of every service. The pool covers the usual concurrency (consumers and
    # background loops), so connections are reused rather than opened and closed per message.
    db_pool_size: int = Field(default=8, ge=1, le=100)
    db_max_overflow: int = Field(default=4, ge=0, le=100)
    admin_api_key: SecretStr = SecretStr("dev-admin-key")
    internal_token: SecretStr = SecretStr("dev-internal-token")
    shutdown_grace_seconds: float = Field(default=8.0, gt=0, le=30)
    otel_enabled: bool = Field(
        default=False,
        description="Export traces by OTLP (OTEL_EXPORTER_OTLP_ENDPOINT); see shared/tracing.py.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest HTTP request body; over it → 413, before parsing.",
    )
    publish_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    outbox_max_publish_failures: int = Field(
        default=5, ge=1, description="Failed publishes of one outbox row before it is quarantined."
    )
    max_message_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest message a consumer reads (over it → DLQ) or the relay publishes.",
    )

    crash_points: str = Field(
        default="",
        description="Fault runs only: points where the process SIGKILLs itself (shared/crashpoints.py).",
    )

    @field_validator("crash_points")
    @classmethod
    def _known_crash_points(cls, value: str) -> str:
        crashpoints.parse(value)  # a typo must not silently arm nothing
        return value

    @model_validator(mode="after")
    def _refuse_crash_points_in_production(self) -> ServiceSettings:
        if self.environment == "production" and self.crash_points.strip():
            raise ValueError("QBB_CRASH_POINTS: crash points are for fault runs, never production")
        return self

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        weak = [name for name, value in self._secrets().items() if is_placeholder(value)]
        if weak:
            names = ", ".join(f"QBB_{n.upper()}" for n in sorted(weak))
            raise ValueError(
                f"{names}: placeholder or too short (< 16 characters) for production; "
                "set a real random value, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return self

    @model_validator(mode="after")
    def _refuse_default_credentials_in_production(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        problems = credential_problems(database_url=self.database_url, amqp_url=self.amqp_url)
        if problems:
            raise ValueError("; ".join(problems) + " (production needs real credentials)")
        return self

    def _secrets(self) -> dict[str, str]:
        """Every secret; a comma-separated list (rotation) is checked value by value."""
        found: dict[str, str] = {}
        for name, value in self.__dict__.items():
            if isinstance(value, SecretStr):
                parts = value.get_secret_value().split(",")
                found[name] = min(parts, key=lambda p: (not is_placeholder(p), len(p.strip())))
        return found
