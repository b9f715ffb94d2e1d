"""Trust on first use survives the process: the known-servers file, with real servers."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server.trackserver import running_server, wait_for
from track.persistence import get_protocol
from track.server.crypto import identity_fingerprint, load_identity
from track.server.known import KnownServers, ServerKeyChanged, known_servers_path

CONNECT = """
import sys
from track.persistence import get_protocol
store = get_protocol(sys.argv[1])
print(len(store.fetch_projects(None)))
store.close()
"""


def fingerprint_of(server) -> str:
    """The fingerprint of the key file the server uses."""
    return identity_fingerprint(load_identity(str(server.key_file)))


def entries(path: Path) -> list[list[str]]:
    """The ``host:port fingerprint`` lines of a known-servers file."""
    lines = path.read_text().splitlines()
    return [line.split() for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture
def known(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The known-servers file of this test (never the real home)."""
    path = tmp_path / "config" / "known_servers"
    monkeypatch.setenv("TRACK_KNOWN_SERVERS", str(path))
    return path


def test_first_connection_records_the_fingerprint(tmp_path, known, capfd) -> None:
    """The first connection writes ``host:port fingerprint`` (mode 0600) and says so on stderr."""
    with running_server(tmp_path, f"file://{tmp_path / 'store.json'}") as server:
        get_protocol(server.uri()).close()
        expected = fingerprint_of(server)
        assert entries(known) == [[f"127.0.0.1:{server.port}", expected]]
        assert stat.S_IMODE(known.stat().st_mode) == 0o600
        err = capfd.readouterr().err
        assert f"first connection to server 127.0.0.1:{server.port}" in err
        assert str(known) in err and expected in err


def test_second_process_connects_silently(tmp_path, known) -> None:
    """A later process (a new training job) finds the server in the file and prints nothing."""
    with running_server(tmp_path, f"file://{tmp_path / 'store.json'}") as server:
        get_protocol(server.uri()).close()
        before = known.read_text()
        done = subprocess.run(
            [sys.executable, "-c", CONNECT, server.uri()], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "0"
        assert "trust" not in done.stderr and "first connection" not in done.stderr
        assert known.read_text() == before


def test_changed_key_is_refused_before_the_password_is_sent(tmp_path, known) -> None:
    """A server restarted with a new key is refused, naming the file; it sees no login attempt."""
    with running_server(tmp_path, f"file://{tmp_path / 'store.json'}") as server:
        get_protocol(server.uri()).close()
        old = fingerprint_of(server)
        server.stop()
        server.key_file.unlink()
        offset = len(server.log())
        server.start()  # same port, a new key
        new = fingerprint_of(server)
        assert new != old
        with pytest.raises(ServerKeyChanged) as refused:
            get_protocol(server.uri())
        message = str(refused.value)
        name = f"127.0.0.1:{server.port}"
        assert str(known) in message and old in message and new in message
        assert f"delete the line starting with '{name}'" in message
        assert f"?server_key={new}" in message
        # the server got a hello and then end of file: no login frame, so no password
        wait_for(lambda: "disconnected" in server.log()[offset:], 10, "the refused connection")
        after = server.log()[offset:]
        assert "logged in" not in after and "login failed" not in after
        assert entries(known) == [[name, old]]
        # accepting the new key as the message says (deleting the line) lets the client in,
        # and then the server does log the login: the check above could see one
        known.write_text("")
        get_protocol(server.uri()).close()
        wait_for(lambda: "logged in" in server.log()[offset:], 10, "the login")
        assert entries(known) == [[name, new]]


def test_pinned_server_key_wins_over_the_file(tmp_path, known) -> None:
    """``server_key=`` decides alone: the new pinned key connects and the file is left as it is."""
    with running_server(tmp_path, f"file://{tmp_path / 'store.json'}") as server:
        get_protocol(server.uri()).close()
        server.stop()
        server.key_file.unlink()
        server.start()
        before = known.read_text()
        get_protocol(server.uri(server_key=fingerprint_of(server))).close()
        assert known.read_text() == before


def test_uri_option_names_the_file(tmp_path, known) -> None:
    """``known_servers=`` in the URI overrides ``TRACK_KNOWN_SERVERS``."""
    other = tmp_path / "elsewhere" / "known"
    with running_server(tmp_path, f"file://{tmp_path / 'store.json'}") as server:
        get_protocol(server.uri(known_servers=str(other))).close()
        assert entries(other) == [[f"127.0.0.1:{server.port}", fingerprint_of(server)]]
        assert not known.exists()


def test_many_processes_starting_at_once_agree(tmp_path, known) -> None:
    """Eight jobs connecting at once to a new server all succeed and record it once."""
    with running_server(tmp_path, f"file://{tmp_path / 'store.json'}") as server:
        command = [sys.executable, "-c", CONNECT, server.uri()]
        jobs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(8)]
        errors = [job.communicate(timeout=120)[1] for job in jobs]
        assert [job.returncode for job in jobs] == [0] * 8, errors
        assert entries(known) == [[f"127.0.0.1:{server.port}", fingerprint_of(server)]]


def _record(path: str, name: str, fingerprint: str, barrier, results) -> None:
    barrier.wait()
    results.put((name, fingerprint, KnownServers(path).record(name, fingerprint)))


def test_concurrent_records_lose_nothing_and_agree(tmp_path) -> None:
    """Processes recording at the same instant: no entry is lost, one key wins per server."""
    path = str(tmp_path / "known_servers")
    context = multiprocessing.get_context("fork")
    workers = 16
    barrier, results = context.Barrier(workers), context.Queue()
    jobs = []
    for index in range(workers):
        name = f"host{index % 8}:1"  # two processes per server, with different keys
        job = context.Process(target=_record, args=(path, name, f"{index:064x}", barrier, results))
        job.start()
        jobs.append(job)
    answers = [results.get(timeout=60) for _ in jobs]
    for job in jobs:
        job.join(30)
    recorded = {name: held for name, held in entries(Path(path))}
    assert sorted(recorded) == [f"host{i}:1" for i in range(8)]
    assert len(entries(Path(path))) == 8
    for name, _, held in answers:
        assert held == recorded[name]
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_unwritable_file_warns_and_connects(tmp_path, monkeypatch, capfd) -> None:
    """When the file cannot be written the client still connects, with a warning saying so."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TRACK_KNOWN_SERVERS", str(blocker / "known_servers"))
    with running_server(tmp_path, f"file://{tmp_path / 'store.json'}") as server:
        get_protocol(server.uri()).close()
    err = capfd.readouterr().err
    assert "WARNING: could not record server" in err and "for this process only" in err


def test_default_path_honours_xdg_config_home(tmp_path, monkeypatch) -> None:
    """``$XDG_CONFIG_HOME/track/known_servers``, else ``~/.config/track/known_servers``."""
    monkeypatch.delenv("TRACK_KNOWN_SERVERS")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert known_servers_path() == str(tmp_path / "xdg" / "track" / "known_servers")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert known_servers_path() == str(tmp_path / "home" / ".config" / "track" / "known_servers")
    assert known_servers_path("~/k") == str(tmp_path / "home" / "k")
