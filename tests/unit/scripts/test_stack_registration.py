"""``make run`` keeps running when auth drops the development platform's registration."""

from __future__ import annotations

import socket
import threading

import pytest

from scripts import stack


def _hanging_up_server() -> tuple[socket.socket, int]:
    """A port that accepts connections and closes them without an answer (a service killed mid-call)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server, int(server.getsockname()[1])


def test_a_registration_cut_off_by_a_dying_auth_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, port = _hanging_up_server()
    try:
        ports = stack.Ports(port - 1)  # auth is the sandbox port + 1
        found = stack.register_dev_platform({"QBB_ADMIN_API_KEY": "dev-admin-key"}, ports)
    finally:
        server.close()

    assert found is None
    assert "auth did not answer" in capsys.readouterr().out
