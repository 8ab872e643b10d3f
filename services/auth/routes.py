"""HTTP endpoints of the auth service (health, readiness and metrics come from the runtime)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
