"""Server life cycle: SIGTERM drains and commits; no users means loud, loopback-only service."""

from __future__ import annotations

from pathlib import Path

from trackserver import running_server

from track.persistence import get_protocol
from track.persistence.socketed import SocketClient, SocketServer
from track.structure import Project


def test_sigterm_commits_the_store_and_exits_zero(tmp_path: Path) -> None:
    """After SIGTERM the server exits 0 and the store file holds what clients wrote."""
    store = f"file://{tmp_path / 'store.json'}"
    with running_server(tmp_path, store) as server:
        client = SocketClient(server.uri())
        client.new_project(Project(name="kept"))
        assert server.stop() == 0
        assert "store committed; server stopped" in server.log()
    assert get_protocol(store).get_project(Project(name="kept")) is not None


def test_no_users_warns_loudly_and_accepts_loopback(tmp_path: Path) -> None:
    """Without users the log says authentication is off and loopback clients get in."""
    with running_server(tmp_path, f"file://{tmp_path / 's.json'}", users={}) as server:
        assert "NO USERS CONFIGURED: authentication is OFF; accepting loopback clients only" in (
            server.log()
        )
        SocketClient(server.uri(user="x", password="y")).close()


def test_socket_server_reads_the_seed_uri() -> None:
    """SocketServer('socket://host:port?security_layer=...&backend=...') parses its options."""
    server = SocketServer("socket://127.0.0.1:9999?security_layer=AES&backend=ephemeral:")
    assert (server.options.port, server.options.security_layer) == (9999, "AES")
    assert server.options.store == "ephemeral:"
