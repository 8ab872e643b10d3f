"""Settings of the exporter service (``QBB_*`` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class ExporterSettings(ServiceSettings):
    """What the exporter service reads from the environment."""

    service_name: str = "qbb-exporter"
    http_port: int = 8093
