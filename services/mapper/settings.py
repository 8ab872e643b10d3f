"""Settings of the mapper service (``QBB_*`` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class MapperSettings(ServiceSettings):
    """What the mapper service reads from the environment."""

    service_name: str = "qbb-mapper"
    http_port: int = 8092
