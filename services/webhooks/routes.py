"""HTTP endpoints of the webhooks service (health, readiness and metrics come from the runtime)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
