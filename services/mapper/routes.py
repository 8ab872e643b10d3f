"""HTTP endpoints of the mapper service (health, readiness and metrics come from the runtime)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
