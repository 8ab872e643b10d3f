"""Every metric an alert or the dashboard reads is served at /metrics by the running services."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Stack
from tests.helpers.observability import EXTERNAL, all_used_metrics, family

pytestmark = pytest.mark.e2e


async def test_the_services_serve_every_metric_the_alerts_and_the_dashboard_use(stack: Stack) -> None:
    ends = stack.ends
    async with httpx.AsyncClient(timeout=10) as client:
        answers = await asyncio.gather(
            *(client.get(f"{url}/metrics") for url in (ends.auth, ends.mapper, ends.exporter, ends.webhooks))
        )
    assert [a.status_code for a in answers] == [200] * 4
    served = {family(f.name) for a in answers for f in text_string_to_metric_families(a.text)}
    assert {family(name) for name in all_used_metrics()} - EXTERNAL - served == set()
