"""Plain factory functions for events, with keyword overrides."""

from __future__ import annotations

import uuid
from typing import Any

from shared.contracts.envelope import Envelope


def customer_upserted(*, tenant_id: str = "tenant-1", **overrides: Any) -> Envelope:
    """A valid ``customer.upserted`` event from a platform."""
    data = {"customer_id": f"cus_{uuid.uuid4().hex[:8]}", "code": "ACME", "name": "Acme Ltd"} | overrides
    return Envelope.new("customer.upserted", data, tenant_id=tenant_id, source="test-platform")


def vendor_upserted(*, tenant_id: str = "tenant-1", **overrides: Any) -> Envelope:
    """A valid ``vendor.upserted`` event from a platform."""
    data = {"vendor_id": f"ven_{uuid.uuid4().hex[:8]}", "name": "Paper Co"} | overrides
    return Envelope.new("vendor.upserted", data, tenant_id=tenant_id, source="test-platform")
