"""Unsafe set-ups refuse to start; malformed logins are refused cleanly; refused clients learn why.

Real ``track serve`` subprocesses and real sockets throughout; the remote-client refusal runs a
client in another network namespace (198.18.0.0/15), as a client on another host would.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from netns import SERVER_ADDRESS, namespaces_unavailable, virtual_network
from rawclient import answer, closed_by_peer, connect, greet, send_login
from trackserver import PASSWORD, USER, running_server, users_file, wait_for

from optional import unavailable
from track.persistence.socketed import (
    AuthenticationFailed,
    ServerRefused,
    ServerUnreachable,
    SocketClient,
)
from track.server import auth, wire
from track.structure import Project


def serve(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run ``track serve`` on a free loopback port; it must exit by itself (a refusal)."""
    command = [sys.executable, "-m", "track.cli", "serve", "--store", f"file://{tmp_path}/s.json"]
    command += ["--port", "0", *arguments]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACK_")}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


# ---- finding 9: unsafe defaults -----------------------------------------------------------


@pytest.mark.parametrize(
    "text", ['[user]\nalice = "scrypt$1$8$1$00$00"\n', "[users]\n"], ids=["no-table", "empty"]
)
def test_a_users_file_without_users_refuses_to_start(tmp_path: Path, text: str) -> None:
    """--users naming a file with no [users] table (a typo) or an empty one: the server exits 2
    with the reason instead of running with authentication off."""
    path = tmp_path / "users.toml"
    path.write_text(text)
    done = serve(tmp_path, "--users", str(path))
    assert done.returncode == 2, done.stderr
    assert str(path) in done.stderr
    assert "no [users] table" in done.stderr or "table is empty" in done.stderr


def test_a_key_file_others_can_read_refuses_to_start(tmp_path: Path) -> None:
    """An AES key file readable by group or others: the server exits 2 and says chmod 600."""
    key = tmp_path / "key.pem"
    from track.server.crypto import load_identity

    load_identity(str(key))
    key.chmod(0o644)
    users = users_file(tmp_path, {USER: PASSWORD})
    done = serve(tmp_path, "--security-layer", "AES", "--key-file", str(key), "--users", str(users))
    assert done.returncode == 2, done.stderr
    assert f"chmod 600 {key}" in done.stderr and "mode 0644" in done.stderr


def test_users_tmp_file_is_never_followed_or_reused(tmp_path: Path) -> None:
    """A planted users.toml.tmp symlink makes `track users add` fail with a one-line error;
    the link's target is untouched; a normal run writes the file with mode 0600."""
    path = tmp_path / "users.toml"
    target = tmp_path / "target"
    target.write_text("precious\n")
    (tmp_path / "users.toml.tmp").symlink_to(target)
    command = [sys.executable, "-m", "track.cli", "users", "add", "alice", "--file", str(path)]
    done = subprocess.run(
        [*command, "--password-stdin"], input="pw\n", capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert "users.toml.tmp already exists" in done.stderr and "Traceback" not in done.stderr
    assert target.read_text() == "precious\n" and not path.exists()
    (tmp_path / "users.toml.tmp").unlink()
    auth.save_user(str(path), "alice", "pw")
    assert path.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "users.toml.tmp").exists()


def old_hash(password: str) -> str:
    """A hash as earlier versions wrote them (N=2^14)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${salt.hex()}${digest.hex()}"


def test_new_hashes_cost_2_17_and_old_2_14_hashes_still_log_in(tmp_path: Path) -> None:
    """New hashes use N=2^17 (r=8: 128 MiB); a users file holding an older N=2^14 hash still
    lets its user log in to a real server, and a wrong password is still refused."""
    assert auth.hash_password("pw").startswith("scrypt$131072$8$1$")
    assert auth.check_credentials({"a": auth.hash_password("pw")}, "a", "pw")
    path = tmp_path / "users.toml"
    path.write_text(f'[users]\nold = "{old_hash("legacy")}"\n')
    extra = ("--users", str(path))
    with running_server(tmp_path, f"file://{tmp_path}/s.json", users={}, extra=extra) as server:
        SocketClient(server.uri(user="old", password="legacy")).close()
        with pytest.raises(AuthenticationFailed):
            SocketClient(server.uri(user="old", password="wrong"))


def connection_lines(log: str, port: int) -> list[str]:
    """The server's log lines about the connection from local port ``port``."""
    return [line for line in log.splitlines() if f"127.0.0.1:{port}:" in line]


@pytest.mark.parametrize(
    "login",
    [
        {"user": ["alice"], "password": PASSWORD, "session": "s"},
        {"user": USER, "password": {"x": 1}, "session": "s"},
        {"user": USER, "password": b"bytes", "session": "s"},
        ["not", "a", "map"],
    ],
    ids=["list-user", "map-password", "bytes-password", "not-a-map"],
)
def test_malformed_login_fields_are_a_refused_login(tmp_path: Path, login: object) -> None:
    """A login with a non-string user name or password: the client is told it is malformed,
    the server logs one line for it (no traceback) and goes on serving."""
    with running_server(tmp_path, f"file://{tmp_path}/s.json") as server:
        sock, channel = greet(server.port)
        port = sock.getsockname()[1]
        send_login(sock, channel, login)
        reply = answer(sock, channel)
        assert reply["refused"] == "malformed" and "malformed login" in reply["error"], reply
        assert closed_by_peer(sock)
        lines = wait_for(lambda: connection_lines(server.log(), port), 10, "a log line")
        assert len(lines) == 1 and "refused: malformed login" in lines[0], lines
        SocketClient(server.uri()).close()
        assert "Traceback" not in server.log() and "Unhandled" not in server.log()


def test_an_all_zero_x25519_key_is_a_refused_hello(tmp_path: Path) -> None:
    """A hello carrying the all-zero X25519 key (a low-order point): refused as malformed with
    one log line, no traceback; the server goes on serving."""
    with running_server(tmp_path, f"file://{tmp_path}/s.json") as server:
        sock = connect(server.port)
        port = sock.getsockname()[1]
        sock.sendall(
            wire.frame(wire.encode({"track": wire.VERSION, "layer": "AES", "pub": bytes(32)}))
        )
        reply = wire.decode(wire.recv_frame(sock, 1 << 20))
        assert reply["refused"] == "malformed" and "X25519" in reply["error"], reply
        lines = wait_for(lambda: connection_lines(server.log(), port), 10, "a log line")
        assert len(lines) == 1 and "refused: malformed hello" in lines[0], lines
        SocketClient(server.uri()).close()
        assert "Traceback" not in server.log() and "Unhandled" not in server.log()


# ---- finding 12: a refused client is told why, and stops when retrying cannot help --------


def test_bad_credentials_fail_at_once_with_the_reason(tmp_path: Path) -> None:
    """A wrong password raises AuthenticationFailed with the server's reason after one try."""
    with running_server(tmp_path, f"file://{tmp_path}/s.json") as server:
        with pytest.raises(AuthenticationFailed, match="wrong user name or password"):
            SocketClient(server.uri(password="bad", timeout="30"))
        wait_for(lambda: "login failed" in server.log(), 10, "the refusal logged")
        assert server.log().count("login failed") == 1


def test_too_many_connections_is_said_and_retried(tmp_path: Path) -> None:
    """With every logged-in slot taken (--max-connections 1) a second client hears "too many
    connections" and keeps retrying: it gives up with that reason, or gets in once a slot frees."""
    extra = ("--max-connections", "1")
    with running_server(tmp_path, f"file://{tmp_path}/s.json", extra=extra) as server:
        first = SocketClient(server.uri())
        with pytest.raises(ServerUnreachable, match="too many connections"):
            SocketClient(server.uri(timeout="2"))
        assert server.log().count("refused: too many connections") >= 2, "retried"
        first.close()
        second = SocketClient(server.uri(timeout="30"))
        second.new_project(Project(name="second"))
        second.close()


REMOTE_CLIENT = """
import json, sys
from track.persistence.socketed import SocketClient
try:
    SocketClient(sys.argv[1]).close()
    print(json.dumps({"ok": True}))
except Exception as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error)}))
"""


def test_a_remote_client_of_a_server_without_users_is_told_why(tmp_path: Path) -> None:
    """A client on another host (network namespace) of a server without users gets
    ServerRefused saying no users are configured, after one attempt (no retrying)."""
    reason = namespaces_unavailable()
    if reason is not None:
        unavailable(f"no network namespaces: {reason}")
    with virtual_network(clients=1) as net:
        store = f"file://{tmp_path}/s.json"
        prefix = net.run_in(net.server)
        kwargs = {"layer": None, "users": {}, "host": SERVER_ADDRESS, "prefix": prefix}
        with running_server(tmp_path, store, **kwargs) as server:
            command = [*net.run_in(net.clients[0]), sys.executable, "-c", REMOTE_CLIENT]
            env = {k: v for k, v in os.environ.items() if not k.startswith("TRACK_")}
            done = subprocess.run(
                [*command, server.uri(user=None, timeout="20")],
                capture_output=True,
                text=True,
                timeout=120,
                env=env,
            )
            report = json.loads(done.stdout.strip().splitlines()[-1])
            assert report["error"] == ServerRefused.__name__, (report, done.stderr)
            assert "no users configured" in report["message"]
            assert "accepts only loopback clients" in report["message"]
            assert server.log().count("refused: non-loopback client") == 1
