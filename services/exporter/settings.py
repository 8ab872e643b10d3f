"""Settings of the exporter service (``QBB_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from shared.qbo.settings import QboSettings


class ExporterSettings(QboSettings):
    """What the exporter service reads from the environment."""

    service_name: str = "qbb-exporter"
    http_port: int = 8093
    auth_internal_url: str = "http://127.0.0.1:8091"
    throttle_pause_seconds: float = Field(
        default=60.0, ge=0, description="Longest pause of a realm after 429s (the first is 1 s, doubling)"
    )
    batch_size: int = Field(default=30, ge=1, le=30)
    claim_limit: int = Field(
        default=600,
        ge=1,
        description="Jobs one dispatcher round takes at most: batch_size from each of claim_limit / "
        "batch_size realms (at least one) read oldest first, of which at most round_slots are taken",
    )
    realm_parallel: int = Field(default=4, ge=1, description="Single writes in flight per realm and process")
    realm_rounds: int = Field(
        default=3,
        ge=1,
        description="Rounds (a batch each) of one realm in flight at once in a process, while each took a "
        "full batch of live writes: a realm with a backlog keeps several batches going, within Intuit's "
        "limits (a round of backfill writes goes alone)",
    )
    round_slots: int = Field(
        default=4,
        ge=1,
        description="Realms a claim may start rounds for, less the rounds in flight of fewer than "
        "batch_size jobs begun in the last round_young_seconds: under load the jobs of each realm "
        "gather meanwhile and go several to a call, rather than one or two",
    )
    round_young_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How long a round in flight holds its slot: one slow in QBO or waiting out its "
        "realm's limits holds none after this (a round that ends frees its slot at once)",
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, description="A running job not renewed this long is in doubt"
    )
    poll_seconds: float = Field(default=1.0, gt=0)
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0, 1800.0)
    wait_limit_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A job waiting for a dependency, its object's creation or its connection ends "
        "(sync.failed) after this long",
    )
    retry_jitter: float = Field(default=0.25, ge=0, le=1, description="± share of each delay, randomised")
