"""Settings of the webhooks service (``QBB_*`` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class WebhooksSettings(ServiceSettings):
    """What the webhooks service reads from the environment."""

    service_name: str = "qbb-webhooks"
    http_port: int = 8094
