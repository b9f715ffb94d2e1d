"""``file://`` under real concurrency: many processes, ``kill -9`` holding the lock, SIGTERM.

Every test starts real interpreters running small scripts against one store file and reads
the result back with ``json.load`` or a fresh protocol. The per-store behaviour of single
calls is covered by ``test_behaviour.py``.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from track import Status, TrackClient
from track.errors import UnusableStore
from track.persistence import get_protocol
from track.structure import CustomStatus, Trial

DEADLINE = 60.0

PRELUDE = """
import os, sys, time
from pathlib import Path
from track.persistence import get_protocol
from track.structure import CustomStatus, Trial

STORE, GO = sys.argv[1], Path(sys.argv[2])
while not GO.exists():
    time.sleep(0.005)
store = get_protocol(STORE)
"""

INCREMENT = (
    PRELUDE
    + """
uid = sys.argv[3]
while True:
    count = store.fetch_trials({"uid": uid})[0].metadata["count"]
    query = {"uid": uid, "metadata.count": count}
    if store.fetch_and_update_trial(query, "log_trial_metadata", count=count + 1) is not None:
        break
"""
)

RESERVE = (
    PRELUDE
    + """
trial = store.fetch_and_update_trial(
    {"status": "CreatedGroup"}, "set_trial_status", status=CustomStatus("reserved", 1)
)
print(trial.uid if trial is not None else "none")
"""
)

HOLD_LOCK = (
    PRELUDE
    + """
uid = sys.argv[3]
with store._transaction(write=True) as state:
    state["trials"][uid]["metadata"]["unsaved"] = True
    print("locked", flush=True)
    time.sleep(120)
"""
)

TRAIN = """
import sys, time
from pathlib import Path
from track import TrackClient

client = TrackClient(sys.argv[1], flush_interval=0.05)
trial = client.new_trial(parameters={"lr": 0.1})
last = -1
try:
    with trial:
        step = 0
        while True:
            trial.log_metrics(step=step, loss=1.0 / (step + 1))
            last = step
            step += 1
            time.sleep(0.002)
finally:
    Path(sys.argv[2]).write_text(str(last))
"""


def wait_for(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``condition`` until it returns something truthy, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def start(tmp_path: Path, code: str, *args: str) -> subprocess.Popen[str]:
    """Run ``code`` as a script in a new interpreter with ``args``."""
    script = tmp_path / f"script_{abs(hash(code))}.py"
    if not script.exists():
        script.write_text(code)
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    """Wait for a script and return its stdout, failing with its stderr if it failed."""
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, err
    return out


def load(path: Path) -> dict[str, Any]:
    """The store file, parsed by ``json`` alone (so it must be complete, valid JSON)."""
    with open(path, encoding="utf-8") as file:
        return json.load(file)


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, Path]:
    """A fresh ``file://`` store URI and its path."""
    path = tmp_path / "store.json"
    return f"file://{path}", path


def new_trials(uri: str, number: int, **metadata: Any) -> list[str]:
    """Insert ``number`` trials with ``metadata`` and return their uids."""
    protocol = get_protocol(uri)
    uids = []
    for i in range(number):
        trial = protocol.new_trial(Trial(parameters={"i": i}, metadata=dict(metadata)))
        assert trial is not None
        uids.append(trial.uid)
    protocol.close()
    return uids


def test_twenty_processes_increment_one_counter(store: tuple[str, Path], tmp_path: Path) -> None:
    """Twenty processes doing compare-and-swap through fetch_and_update_trial lose no update."""
    uri, path = store
    [uid] = new_trials(uri, 1, count=0)
    go = tmp_path / "go"
    workers = [start(tmp_path, INCREMENT, uri, str(go), uid) for _ in range(20)]
    go.touch()
    for worker in workers:
        finish(worker)
    assert load(path)["trials"][uid]["metadata"]["count"] == 20


def test_twelve_processes_reserve_twelve_different_trials(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Twelve workers reserving from one pool at once never get the same trial."""
    uri, path = store
    pool = new_trials(uri, 15)
    go = tmp_path / "go"
    workers = [start(tmp_path, RESERVE, uri, str(go)) for _ in range(12)]
    go.touch()
    reserved = [finish(worker).strip() for worker in workers]
    assert len(set(reserved)) == 12
    assert set(reserved) <= set(pool)
    statuses = {uid: doc["status"]["name"] for uid, doc in load(path)["trials"].items()}
    assert sorted(uid for uid, name in statuses.items() if name == "reserved") == sorted(reserved)
    reader = get_protocol(uri)
    assert len(reader.fetch_trials({"status": "CreatedGroup"})) == 3
    reader.close()


def test_kill_9_while_holding_the_lock(store: tuple[str, Path], tmp_path: Path) -> None:
    """A writer killed with SIGKILL inside its write transaction blocks no one and tears nothing."""
    uri, path = store
    [uid] = new_trials(uri, 1, count=0)
    go = tmp_path / "go"
    go.touch()
    holder = start(tmp_path, HOLD_LOCK, uri, str(go), uid)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    with open(f"{path}.lock", "a+b") as lock, pytest.raises(BlockingIOError):
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=DEADLINE)
    assert holder.returncode == -signal.SIGKILL
    holder.communicate()
    with open(f"{path}.lock", "a+b") as lock:  # free at once: fails with BlockingIOError if not
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(lock, fcntl.LOCK_UN)

    finish(start(tmp_path, INCREMENT, uri, str(go), uid))
    doc = load(path)["trials"][uid]
    assert doc["metadata"]["count"] == 1
    assert "unsaved" not in doc["metadata"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".track-")] == []


def test_sigterm_interrupts_training_and_keeps_every_point(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """SIGTERM during ``with trial:`` ends it Interrupted with every point logged before it."""
    uri, path = store
    side = tmp_path / "last_step"
    trainer = start(tmp_path, TRAIN, uri, str(side))

    def points() -> int:
        if not path.exists():
            return 0
        reader = get_protocol(uri)
        try:
            return sum(len(t.metrics.get("loss", [])) for t in reader.fetch_trials(None))
        finally:
            reader.close()

    wait_for(lambda: points() >= 50, "50 flushed points")
    trainer.send_signal(signal.SIGTERM)
    _, err = trainer.communicate(timeout=DEADLINE)
    assert trainer.returncode == 128 + signal.SIGTERM, err

    last = int(side.read_text())
    # the trainer never closed its store: fold its journal into the document
    get_protocol(uri).commit(compact=True)
    [doc] = load(path)["trials"].values()
    steps = [p[0] for p in doc["metrics"]["loss"]]
    assert steps == list(range(len(steps)))
    assert last + 1 <= len(steps) <= last + 2
    assert doc["status"] == {"name": "Interrupted", "value": Status.Interrupted.value}
    assert "SIGTERM" in doc["errors"]
    assert "end_time" in doc["metadata"]


def test_pickled_store_round_trip(tmp_path: Path) -> None:
    """A trial logged to ``pickled://`` reads back whole from a fresh protocol and from pickle."""
    uri = f"pickled://{tmp_path / 'store.pkl'}"
    client = TrackClient(uri)
    client.set_project(name="p")
    trial = client.new_trial(parameters={"lr": 0.1})
    with trial:
        trial.log_metrics(step=0, loss=float("nan"))
        trial.add_tags(kind="pickle")
        trial.set_status(CustomStatus("checked", 5))
    client.close()

    reader = get_protocol(uri)
    [stored] = reader.fetch_trials({"project_id": "p"})
    reader.close()
    assert stored.uid == trial.uid
    assert stored.tags == {"kind": "pickle"}
    assert stored.status is Status.Completed
    assert math.isnan(stored.metrics["loss"][0][1])
    with open(tmp_path / "store.pkl", "rb") as file:
        state = pickle.load(file)
    assert state["format"] == "track/1"
    assert state["trials"][trial.uid]["parameters"] == {"lr": 0.1}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (pickle.dumps(["not", "a", "store"]), r"store\.pkl is not a track store pickle$"),
        (b'{"format": "track/1", "trials": {}}', "is not a track store pickle: invalid load key"),
        (pickle.dumps({"trials": {}})[:-3], "is not a track store pickle: "),
    ],
)
def test_pickled_store_refuses_a_foreign_file(tmp_path: Path, content: bytes, reason: str) -> None:
    """A pickle that holds no store, or no pickle at all, is refused by name, not misread."""
    path = tmp_path / "store.pkl"
    path.write_bytes(content)
    with pytest.raises(UnusableStore, match=reason):
        get_protocol(f"pickled://{path}").fetch_trials({})
    assert path.read_bytes() == content


def test_file_written_piecewise_equals_the_state(tmp_path: Path) -> None:
    """Journaled flushes and compactions that encode only new points store exactly the state."""
    from track.persistence.local import FileProtocol
    from track.persistence.memory import EphemeralProtocol
    from track.persistence.protocol import TrialBatch
    from track.serialization import trial_to_doc
    from track.structure import Trial

    path = tmp_path / "store.json"
    stores = [FileProtocol(f"file://{path}"), EphemeralProtocol()]
    for store in stores:
        trial = Trial(parameters={"x": 1})
        store.new_trial(trial)
        for seq in range(1, 40):
            batch = TrialBatch(
                writer="w",
                seq=seq,
                metrics=[(f"m{seq % 3}", seq, seq / 3, 0.5), ("loss", None, 1.0 / seq, 0.25)],
                metadata={"epoch": seq} if seq % 5 == 0 else {},
                status={"name": "Running", "value": 101} if seq == 7 else None,
            )
            store.log_trial_batch(trial, batch)
            if seq % 13 == 0:
                store.commit(compact=True)
    in_memory = trial_to_doc(stores[1].get_trial(trial)[0])
    reader = get_protocol(f"file://{path}")
    assert trial_to_doc(reader.get_trial(trial)[0]) == in_memory, "document + journal"
    stores[0].close()
    assert json.loads(path.read_text())["trials"][trial.uid] == in_memory, "after close()"


def test_strict_false_is_refused_and_strict_true_opens(tmp_path: Path) -> None:
    """FileProtocol(strict=False) and make_local(strict=False) raise, naming strict; True opens."""
    from track.persistence import make_local
    from track.persistence.local import FileProtocol

    uri = f"file://{tmp_path / 'store.json'}"
    with pytest.raises(ValueError, match=r"strict=False\) is not supported.*always strict"):
        FileProtocol(uri, strict=False)
    with pytest.raises(ValueError, match=r"strict=False"):
        make_local(uri, strict=False)
    assert not (tmp_path / "store.json.lock").exists(), "refused before touching the folder"
    store = make_local(uri, strict=True)
    assert store.strict is True
    store.close()


def test_protocol_refuses_an_aggregator_and_stores_nothing(tmp_path: Path) -> None:
    """log_trial_metrics/metadata with an aggregator raise and write nothing; None is accepted."""
    from track.aggregators.aggregator import StatAggregator
    from track.persistence.local import FileProtocol

    store = FileProtocol(f"file://{tmp_path / 'store.json'}")
    trial = Trial(parameters={"x": 1})
    store.new_trial(trial)
    with pytest.raises(ValueError, match=r"log_trial_metrics\(aggregator=.*keeps every metric"):
        store.log_trial_metrics(trial, step=0, aggregator=StatAggregator.lazy(0), loss=1.0)
    with pytest.raises(ValueError, match=r"log_trial_metadata\(aggregator=.*keeps every"):
        store.log_trial_metadata(trial, aggregator=StatAggregator.lazy(0), lr=0.1)
    store.log_trial_metrics(trial, step=1, aggregator=None, loss=2.0)
    store.log_trial_metadata(trial, aggregator=None, lr=0.2)
    [stored] = store.get_trial(trial)
    assert [point[:2] for point in stored.metrics["loss"]] == [[1, 2.0]]
    assert stored.metadata == {"lr": 0.2}
    store.close()
