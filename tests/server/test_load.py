"""Many client processes through one server into one store, with and without a server crash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from trackserver import running_server, wait_for

from track.persistence import get_protocol

CLIENTS, STEPS = 16, 5000
WORKER = Path(__file__).with_name("load_worker.py")


def start_clients(uri: str, pause_every: int) -> list[subprocess.Popen]:
    """Start the client processes."""
    return [
        subprocess.Popen(
            [sys.executable, str(WORKER), uri, f"w{i}", str(STEPS), str(pause_every)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(CLIENTS)
    ]


def finish(clients: list[subprocess.Popen]) -> None:
    """Wait for every client and check it exited cleanly."""
    for client in clients:
        _, stderr = client.communicate(timeout=150)
        assert client.returncode == 0, stderr


def assert_every_point_once(store: Path) -> None:
    """Each worker's trial holds steps 0..STEPS-1 of each metric exactly once."""
    state = json.loads(store.read_text())
    trials = [t for t in state["trials"].values() if t["name"].startswith("w")]
    assert sorted(t["name"] for t in trials) == sorted(f"w{i}" for i in range(CLIENTS))
    for trial in trials:
        for metric in ("loss", "acc", "lr"):
            steps = [point[0] for point in trial["metrics"][metric]]
            assert sorted(steps) == list(range(STEPS)), (trial["name"], metric, len(steps))


def points_stored(store: Path) -> int:
    """How many points the store holds right now, journal included (0 while it does not exist)."""
    if not store.exists():
        return 0
    reader = get_protocol(f"file://{store}")
    try:
        return sum(len(s) for t in reader.fetch_trials(None) for s in t.metrics.values())
    finally:
        reader.close()


@pytest.mark.slow
def test_sixteen_clients_store_every_point_exactly_once(tmp_path: Path) -> None:
    """16 processes x 5,000 steps x 3 metrics through one AES server: every point once."""
    store = tmp_path / "store.json"
    with running_server(tmp_path, f"file://{store}") as server:
        finish(start_clients(server.uri(), pause_every=0))
        assert server.stop() == 0
    assert_every_point_once(store)


@pytest.mark.slow
def test_kill9_mid_load_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """kill -9 the server mid-load and restart it on the same port: every point stored once."""
    store = tmp_path / "store.json"
    with running_server(tmp_path, f"file://{store}") as server:
        clients = start_clients(server.uri(), pause_every=50)
        wait_for(lambda: points_stored(store) > CLIENTS * 300, 60, "some points to be stored")
        server.kill()
        assert points_stored(store) < CLIENTS * STEPS * 3, "the load ended before the kill"
        server.start()
        finish(clients)
        assert server.stop() == 0
    assert_every_point_once(store)
