"""Console sessions: random ids, a CSRF token each, ended by age, idleness or sign-out."""

from __future__ import annotations

from services.console.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_found_by_its_id_and_never_shows_its_key() -> None:
    store = SessionStore(ttl=100, idle=50, clock=Clock())
    session = store.create(key="qbb_secret_key", is_admin=False, tenants=("acme",))
    assert store.get(session.session_id) is session
    assert "qbb_secret_key" not in repr(session)
    assert session.who == "tenant acme"
    assert session.csrf != session.session_id


def test_ids_and_tokens_are_random() -> None:
    store = SessionStore(ttl=100, idle=50)
    a, b = (store.create(key="k", is_admin=True, tenants=()) for _ in range(2))
    assert a.session_id != b.session_id
    assert a.csrf != b.csrf
    assert len(a.session_id) >= 40


def test_an_idle_session_ends() -> None:
    clock = Clock()
    store = SessionStore(ttl=100, idle=50, clock=clock)
    session = store.create(key="k", is_admin=True, tenants=())
    clock.now += 51
    assert store.get(session.session_id) is None


def test_a_used_session_still_ends_at_its_age_limit() -> None:
    clock = Clock()
    store = SessionStore(ttl=100, idle=50, clock=clock)
    session = store.create(key="k", is_admin=True, tenants=())
    for _ in range(3):
        clock.now += 40
        found = store.get(session.session_id)
    assert found is None


def test_sign_out_forgets_the_session() -> None:
    store = SessionStore(ttl=100, idle=50)
    session = store.create(key="k", is_admin=False, tenants=())
    store.drop(session.session_id)
    assert store.get(session.session_id) is None
    assert store.get(None) is None
