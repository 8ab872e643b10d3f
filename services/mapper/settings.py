"""Settings of the mapper service (``QBB_*`` environment variables)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class MapperSettings(ServiceSettings):
    """What the mapper service reads from the environment."""

    service_name: str = "qbb-mapper"
    http_port: int = 8092
    # How long a new company's events wait for its reference import before being mapped anyway.
    reference_wait_seconds: float = 120.0
    # How often events whose wait is over are looked for.
    held_poll_seconds: float = 2.0
    # POST /v1/events/bulk: at most this many lines and bytes a request (the size is enforced while reading).
    bulk_max_lines: int = 10_000
    bulk_max_bytes: int = 64 * 1024 * 1024
    # The exporter's internal dry run (architecture §5b): a bulk dry run is judged by the write path.
    exporter_internal_url: str = "http://127.0.0.1:8093"
    dry_run_timeout_seconds: float = 300.0
    # Settings no event announced (saved by an older version) are announced at start and this often.
    settings_announce_poll_seconds: float = 300.0
    settings_announce_chunk: int = 200
