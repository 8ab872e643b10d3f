"""Settings of the console (``QBB_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """Where the services answer; the console itself keeps no data but its sessions."""

    service_name: str = "qbb-console"
    http_port: int = 8095
    auth_url: str = "http://127.0.0.1:8091"
    mapper_url: str = "http://127.0.0.1:8092"
    exporter_url: str = "http://127.0.0.1:8093"
    webhooks_url: str = "http://127.0.0.1:8094"
    sandbox_url: str = Field(
        default="http://127.0.0.1:8090",
        description="The sandbox's HTML view, for links to written objects; empty for no links",
    )
    session_ttl_seconds: int = Field(
        default=8 * 3600, ge=60, description="A session ends this long after sign-in"
    )
    session_idle_seconds: int = Field(default=3600, ge=60, description="…or after this long unused")
    backend_timeout_seconds: float = Field(default=15.0, gt=0)
