"""Reservations through the server are exactly-once, even when the server is killed mid-search."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from trackserver import running_server, wait_for

from track.persistence import get_protocol
from track.structure import Project, Status, Trial

WORKERS, TRIALS = 12, 240
WORKER = Path(__file__).with_name("reserve_worker.py")
QUERY = {"project_id": "search", "status": "CreatedGroup"}


def fill(uri: str, count: int) -> list[str]:
    """Insert ``count`` fresh trials of project ``search``; their uids."""
    store = get_protocol(uri)
    store.new_project(Project(name="search"))
    uids = [
        store.new_trial(Trial(name=f"t{i}", parameters={"i": i}, project_id="search")).uid
        for i in range(count)
    ]
    store.close()
    return uids


def running(uri: str) -> list[str]:
    """The uids of the running trials of project ``search``."""
    store = get_protocol(uri)
    try:
        found = store.fetch_trials({"project_id": "search", "status": "running"}, False)
        return [trial.uid for trial in found]
    finally:
        store.close()


def test_a_reservation_resent_to_a_restarted_server_reserves_once(tmp_path: Path) -> None:
    """The same request sent before and after a kill -9 and restart reserves one trial."""
    with running_server(tmp_path, f"sqlite:///{tmp_path / 's.db'}") as server:
        fill(server.uri(), 3)
        client = get_protocol(server.uri())
        update = ("set_trial_status", [Status.Running], {})
        first = client._call("fetch_and_update_once", "req-1", "trial", QUERY, *update)
        server.kill()
        server.start()
        again = client._call("fetch_and_update_once", "req-1", "trial", QUERY, *update)
        client.close()
        assert first.uid == again.uid
        assert running(server.uri()) == [first.uid]
        assert server.stop() == 0


@pytest.mark.slow
def test_twelve_workers_reserve_every_trial_once_across_a_server_kill(tmp_path: Path) -> None:
    """12 workers reserve 240 trials while the server is killed and restarted: each exactly once."""
    with running_server(tmp_path, f"sqlite:///{tmp_path / 's.db'}") as server:
        uri = server.uri()
        uids = fill(uri, TRIALS)
        workers = [
            subprocess.Popen([sys.executable, str(WORKER), uri], stdout=subprocess.PIPE, text=True)
            for _ in range(WORKERS)
        ]
        on_disk = f"sqlite:///{tmp_path / 's.db'}"
        wait_for(lambda: len(running(on_disk)) >= TRIALS // 4, 60, "a quarter of the trials")
        server.kill()
        assert len(running(on_disk)) < TRIALS, "the search ended before the kill"
        server.start()
        reserved: list[str] = []
        for worker in workers:
            out, _ = worker.communicate(timeout=180)
            assert worker.returncode == 0
            reserved.extend(out.split())
        assert len(reserved) == len(set(reserved)), "a trial was handed to two workers"
        assert sorted(reserved) == sorted(uids), "a trial was reserved without a worker knowing"
        assert sorted(running(uri)) == sorted(uids)
        assert server.stop() == 0
