"""Broker subscriptions of the auth service: none; its commands arrive over its HTTP API."""

from __future__ import annotations

from shared.messaging.router import Router

router = Router()
