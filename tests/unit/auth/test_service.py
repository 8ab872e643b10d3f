"""Rules of the auth service: OAuth state, authorization URL, token expiry math."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from services.auth import service

NOW = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def stored(*, expires_in: int = 600, used: bool = False) -> service.StoredState:
    return service.StoredState(
        connection_id="c1",
        expires_at=NOW + dt.timedelta(seconds=expires_in),
        used_at=NOW if used else None,
    )


def test_new_states_are_random_and_long() -> None:
    states = {service.new_state() for _ in range(100)}
    assert len(states) == 100
    assert all(len(s) >= 43 for s in states)


def test_state_hash_is_stable_and_does_not_contain_the_state() -> None:
    state = service.new_state()
    assert service.hash_state(state) == service.hash_state(state)
    assert state not in service.hash_state(state)
    assert service.hash_state(state) != service.hash_state(state + "x")


def test_a_fresh_unused_state_passes() -> None:
    assert service.state_problem(stored(), now=NOW) is None


@pytest.mark.parametrize(
    ("state", "word"),
    [(None, "unknown"), (stored(used=True), "already used"), (stored(expires_in=-1), "expired")],
)
def test_unknown_used_or_expired_states_are_refused_in_words(
    state: service.StoredState | None, word: str
) -> None:
    problem = service.state_problem(state, now=NOW)
    assert problem is not None
    assert word in problem


def test_a_state_expiring_exactly_now_is_refused() -> None:
    assert service.state_problem(stored(expires_in=0), now=NOW) is not None


def test_cancel_on_the_consent_page_gets_its_own_message() -> None:
    assert "cancelled" in service.callback_error_message("access_denied")
    assert "invalid_scope" in service.callback_error_message("invalid_scope")


def test_authorize_url_carries_every_parameter_intuit_requires() -> None:
    url = service.authorize_url(
        "https://appcenter.intuit.com/connect/oauth2",
        client_id="cid",
        redirect_uri="http://127.0.0.1:8091/v1/oauth/callback",
        scope="com.intuit.quickbooks.accounting",
        state="s t",
    )
    query = parse_qs(urlsplit(url).query)
    assert query == {
        "client_id": ["cid"],
        "response_type": ["code"],
        "scope": ["com.intuit.quickbooks.accounting"],
        "redirect_uri": ["http://127.0.0.1:8091/v1/oauth/callback"],
        "state": ["s t"],
    }


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://platform.example/done", True),
        ("http://127.0.0.1:3000/x?y=1", True),
        ("javascript:alert(1)", False),
        ("/relative", False),
        ("//evil.example", False),
    ],
)
def test_only_absolute_http_urls_may_be_redirected_to(url: str, ok: bool) -> None:
    assert service.valid_redirect_after(url) is ok


def test_redirect_after_keeps_its_own_query() -> None:
    url = service.redirect_after_url("https://p.example/done?x=1", connection_id="c1", status="active")
    assert parse_qs(urlsplit(url).query) == {"x": ["1"], "connection_id": ["c1"], "status": ["active"]}


def test_token_answer_gives_expiry_instants() -> None:
    body = {
        "access_token": "a",
        "refresh_token": "r",
        "expires_in": 3600,
        "x_refresh_token_expires_in": 8726400,
        "x_refresh_token_hard_expires_in": 156032154,
    }
    tokens = service.token_set(body, now=NOW)
    assert tokens.access_expires_at == NOW + dt.timedelta(hours=1)
    assert tokens.refresh_expires_at == NOW + dt.timedelta(days=101)
    assert tokens.refresh_hard_expires_at == NOW + dt.timedelta(seconds=156032154)


def test_a_missing_or_zero_hard_expiry_means_not_told() -> None:
    body = {"access_token": "a", "refresh_token": "r", "expires_in": 3600}
    assert service.token_set(body, now=NOW).refresh_hard_expires_at is None
    zero = {**body, "x_refresh_token_hard_expires_in": 0}
    assert service.token_set(zero, now=NOW).refresh_hard_expires_at is None


def test_a_token_answer_without_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="access_token"):
        service.token_set({"expires_in": 3600}, now=NOW)


@pytest.mark.parametrize(("left", "due"), [(3600, False), (301, False), (300, True), (10, True), (-5, True)])
def test_refresh_is_due_within_the_margin(left: int, due: bool) -> None:
    expires = NOW + dt.timedelta(seconds=left)
    assert service.needs_refresh(expires, now=NOW, margin_seconds=300) is due


def test_hard_expiry_warning_starts_at_the_window() -> None:
    assert not service.hard_expiry_soon(None, now=NOW, warning_days=60)
    assert not service.hard_expiry_soon(NOW + dt.timedelta(days=61), now=NOW, warning_days=60)
    assert service.hard_expiry_soon(NOW + dt.timedelta(days=60), now=NOW, warning_days=60)


def test_invalid_grant_is_recognised_only_as_such() -> None:
    assert service.is_invalid_grant(400, {"error": "invalid_grant"})
    assert not service.is_invalid_grant(400, {"error": "invalid_request"})
    assert not service.is_invalid_grant(500, {"error": "invalid_grant"})
