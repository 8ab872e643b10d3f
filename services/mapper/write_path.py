"""The exporter's verdict on writes the mapper would request: how a bulk dry run sees QBO and the
bridge's links through the write path's own rules (architecture §5b), without writing anything."""

from __future__ import annotations

import httpx

from services.mapper.service import PlanStep
from services.mapper.settings import MapperSettings
from shared.contracts.internal import ExportRequested


class WritePathUnavailable(Exception):
    """The exporter could not be asked (down, or it failed): the dry run cannot say what would happen."""


async def verdicts(settings: MapperSettings, commands: list[ExportRequested]) -> list[PlanStep]:
    """One verdict per command, in order (create, update, link with the QBO id, or reject; and why)."""
    if not commands:
        return []
    body = {"requests": [c.model_dump(mode="json", exclude_none=True) for c in commands]}
    headers = {"Authorization": f"Bearer {settings.internal_token.get_secret_value()}"}
    try:
        async with httpx.AsyncClient(timeout=settings.dry_run_timeout_seconds) as http:
            answer = await http.post(
                f"{settings.exporter_internal_url.rstrip('/')}/internal/v1/preview",
                json=body,
                headers=headers,
            )
    except httpx.HTTPError as exc:
        raise WritePathUnavailable(f"the exporter did not answer ({type(exc).__name__})") from exc
    if answer.status_code != 200:
        raise WritePathUnavailable(f"the exporter answered {answer.status_code}")
    found = answer.json()["verdicts"]
    return [
        PlanStep(v["action"], c.entity, v.get("qbo_id"), v["reason"])
        for c, v in zip(commands, found, strict=True)
    ]
