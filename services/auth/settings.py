"""Settings of the auth service (``QBB_*`` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    """What the auth service reads from the environment."""

    service_name: str = "qbb-auth"
    http_port: int = 8091
