"""Settings of the auth service (``QBB_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.qbo.settings import QboSettings

INTUIT_PRODUCTION_DISCOVERY_URL = "https://developer.intuit.com/.well-known/openid_configuration"
QBO_PRODUCTION_API_BASE = "https://quickbooks.api.intuit.com"


class AuthSettings(QboSettings):
    """What the auth service reads from the environment."""

    service_name: str = "qbb-auth"
    http_port: int = 8091
    intuit_client_id: str = "qbo-bridge-dev"
    intuit_client_secret: SecretStr = SecretStr("dev-intuit-client-secret")
    intuit_discovery_url: str = INTUIT_PRODUCTION_DISCOVERY_URL
    intuit_scope: str = "com.intuit.quickbooks.accounting"
    qbo_api_base: str = QBO_PRODUCTION_API_BASE
    token_encryption_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).",
    )
    public_base_url: str = "http://127.0.0.1:8091"
    state_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    refresh_margin_seconds: int = Field(
        default=300, ge=0, le=3000, description="Refresh an access token this long before it expires."
    )
    refresh_scan_interval_seconds: float = Field(default=60.0, gt=0)
    hard_expiry_warning_days: int = Field(default=60, ge=1)
    supported_countries: tuple[str, ...] = ("US", "GB", "CA", "AU")
    intuit_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    reconnect_rate_limit_per_minute: int = Field(
        default=10, ge=1, description="Calls of /v1/intuit/reconnect per client address and minute."
    )
    # Platforms' RabbitMQ users are made through the management plugin (architecture §5a).
    rabbitmq_management_url: str = "http://127.0.0.1:15672"
    rabbitmq_management_user: str = "guest"
    rabbitmq_management_password: SecretStr = SecretStr("guest")
    rabbitmq_vhost: str = "/"
    platform_amqp_url: str = Field(
        default="",
        description="The broker as platforms reach it (no credentials); default: QBB_AMQP_URL's host.",
    )

    # HTTP egress: the delays between delivery attempts (Standard Webhooks' schedule, ≈ 27 h in
    # all); after the last one a delivery is "failed" and can still be sent again by hand.
    webhook_retry_schedule_seconds: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_poll_interval_seconds: float = Field(default=1.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _retry_webhooks_for_a_day_in_production(self) -> AuthSettings:
        if self.environment == "production" and sum(self.webhook_retry_schedule_seconds) < 24 * 3600:
            raise ValueError(
                "QBB_WEBHOOK_RETRY_SCHEDULE_SECONDS must add up to at least 24 hours in production"
            )
        return self

    @model_validator(mode="after")
    def _require_encryption_key_in_production(self) -> AuthSettings:
        if self.environment == "production" and not self.token_encryption_keys.get_secret_value().strip():
            raise ValueError(
                "QBB_TOKEN_ENCRYPTION_KEYS is required in production: generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            )
        return self

    @property
    def redirect_uri(self) -> str:
        """The OAuth callback Intuit sends the browser back to (registered in the Intuit app)."""
        return f"{self.public_base_url.rstrip('/')}/v1/oauth/callback"
