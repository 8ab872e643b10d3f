"""Settings of the webhooks service (``QBB_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.contracts.catalogue import CHANGED_ENTITIES
from shared.qbo.settings import QboSettings
from shared.qbo.signature import verifier_tokens

# Entities whose changes CDC catches up on: every entity whose changes the catalogue carries,
# less those CDC cannot return (TaxCode, TaxRate: reference §4).
CDC_UNSUPPORTED = frozenset({"TaxCode", "TaxRate", "TaxAgency", "JournalCode", "TimeActivity"})
DEFAULT_CDC_ENTITIES = tuple(e for e in CHANGED_ENTITIES if e not in CDC_UNSUPPORTED)


class WebhooksSettings(QboSettings):
    """What the webhooks service reads from the environment."""

    service_name: str = "qbb-webhooks"
    http_port: int = 8094
    webhook_verifier_token: SecretStr = Field(
        default=SecretStr("dev-webhook-verifier-token"),
        description="Intuit's verifier token; comma-separated to accept several during a rotation.",
    )
    webhook_max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    auth_internal_url: str = "http://127.0.0.1:8091"
    cdc_interval_seconds: float = Field(default=900.0, gt=0)
    cdc_entities: tuple[str, ...] = DEFAULT_CDC_ENTITIES
    cdc_settle_seconds: float = Field(
        default=30.0, ge=0, le=110, description="CDC leaves changes younger than this to the webhooks."
    )
    processor_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    processor_batch_size: int = Field(default=200, ge=1, le=5000)
    echo_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="How long a creation QBO reports in a company the bridge is writing to waits for the"
        " exporter's word that it is the bridge's own, before it is read and published as someone"
        " else's (0: never waits).",
    )
    retention_days: int = Field(default=14, ge=1, description="How long handled deliveries are kept.")
    import_page_size: int = Field(default=1000, ge=1, le=1000)

    def verifier_tokens(self) -> tuple[str, ...]:
        """Every verifier token currently accepted."""
        return verifier_tokens(self.webhook_verifier_token.get_secret_value())
