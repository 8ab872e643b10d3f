"""Pure parts of webhooks (bodies, signature, retry schedule) and throttling windows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from sandbox.limits import Limits, LimitSettings
from sandbox.webhooks import Event, cloudevents_body, legacy_body, retry_delay, sign


def events() -> list[Event]:
    return [
        Event("111", "Invoice", "5", "Create", 1_700_000_000.0),
        Event("222", "Customer", "9", "Update", 1_700_000_001.0),
        Event("111", "Payment", "7", "Void", 1_700_000_002.0),
    ]


def test_legacy_body_has_one_notification_per_realm() -> None:
    body = json.loads(legacy_body(events()))
    realms = {n["realmId"]: n["dataChangeEvent"]["entities"] for n in body["eventNotifications"]}
    assert set(realms) == {"111", "222"}
    assert [(e["name"], e["id"], e["operation"]) for e in realms["111"]] == [
        ("Invoice", "5", "Create"),
        ("Payment", "7", "Void"),
    ]
    assert realms["222"][0]["lastUpdated"].endswith("Z")


def test_cloudevents_body_maps_operations_to_past_tense_types() -> None:
    body = json.loads(cloudevents_body(events()))
    assert [e["type"] for e in body] == [
        "qbo.invoice.created.v1",
        "qbo.customer.updated.v1",
        "qbo.payment.voided.v1",
    ]
    assert {e["specversion"] for e in body} == {"1.0"}
    assert body[1]["intuitaccountid"] == "222"
    assert body[1]["intuitentityid"] == "9"


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = legacy_body(events())
    expected = base64.b64encode(hmac.new(b"verifier", body, hashlib.sha256).digest()).decode()
    assert sign(body, "verifier") == expected


def test_retry_schedule_follows_intuit_then_every_six_hours() -> None:
    assert [retry_delay(n) for n in range(1, 11)] == [0, 10, 20, 30, 300, 1200, 7200, 14400, 21600, 21600]


def test_per_second_window_admits_ten_then_throttles() -> None:
    limits = Limits(settings=LimitSettings(time_scale=0.001))
    admitted = [limits.acquire("r", "app", is_batch=False) for _ in range(11)]
    for _ in range(10):
        limits.release("r", "app")
    assert admitted == [True] * 10 + [False]


def test_concurrency_limit_counts_requests_in_flight() -> None:
    limits = Limits(settings=LimitSettings(concurrent=2, per_second=100, per_minute=100))
    assert limits.acquire("r", "a", is_batch=False)
    assert limits.acquire("r", "a", is_batch=False)
    assert not limits.acquire("r", "a", is_batch=False)
    limits.release("r", "a")
    assert limits.acquire("r", "a", is_batch=False)


def test_batch_limit_per_realm_spans_apps() -> None:
    limits = Limits(settings=LimitSettings(batch_per_minute=10, batch_per_realm_per_minute=2, per_second=100))
    results = [limits.acquire("r", app, is_batch=True) for app in ("a", "b", "c")]
    assert results == [True, True, False]


def test_disabled_limits_admit_everything() -> None:
    limits = Limits(settings=LimitSettings(enabled=False, per_second=1))
    assert all(limits.acquire("r", "a", is_batch=True) for _ in range(50))
