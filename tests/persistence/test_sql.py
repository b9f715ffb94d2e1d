"""The SQL stores on real databases: schema, concurrency, reservations, transaction retries."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from optional import require
from track import TrackClient
from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.persistence.sql import SQLProtocol
from track.persistence.sql.schema import SCHEMA_VERSION
from track.structure import Status, Trial

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_uri(request: pytest.FixtureRequest, tmp_path: Path, fresh_postgres) -> Iterator[str]:
    """A fresh SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'track.db'}"
    else:
        with fresh_postgres() as uri:
            yield uri


def run_all(args_list: list[list[str]], timeout: float) -> list[subprocess.CompletedProcess]:
    """Start every process at once, wait for all, return their results."""
    procs = [
        subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in args_list
    ]
    deadline = time.monotonic() + timeout
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def test_default_store_is_sqlite_in_the_working_directory(tmp_path: Path) -> None:
    """TrackClient() with no URI writes to ./track.db through SQLite."""
    client = TrackClient(flush_interval=0.05)
    trial = client.new_trial(name="default", parameters={"a": 1})
    trial.log_metrics(step=1, loss=0.5)
    client.close()
    assert isinstance(client.protocol, SQLProtocol)
    assert (tmp_path / "track.db").exists()
    store = get_protocol("sqlite:///track.db")
    assert store.fetch_trials({"name": "default"})[0].metrics["loss"][0][:2] == [1, 0.5]
    store.close()


def test_schema_is_versioned_and_created_once(sql_uri: str) -> None:
    """The schema version table holds the current version once, however often it is opened."""
    for _ in range(3):
        get_protocol(sql_uri).close()
    store = get_protocol(sql_uri)
    rows = store._run(lambda cur: cur.all("SELECT version FROM schema_version"), write=False)
    assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer track is refused with a message saying so."""
    path = tmp_path / "track.db"
    get_protocol(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(RuntimeError, match="newer than this track"):
        get_protocol(f"sqlite:///{path}")


def test_bad_uris_are_named(tmp_path: Path) -> None:
    """A URI naming no file or an unsafe schema name is refused with a clear message."""
    with pytest.raises(ValueError, match="names no file"):
        get_protocol("sqlite:///")
    with pytest.raises(ValueError, match="schema"):
        get_protocol("postgresql://u@127.0.0.1:1/db?schema=a;drop")


def test_queries_run_in_sql_not_in_python(tmp_path: Path) -> None:
    """A dotted-path filter is one SQL statement with the path bound as a parameter."""
    store = get_protocol(f"sqlite:///{tmp_path / 'track.db'}")
    for i in range(50):
        store.new_trial(Trial(name=f"t{i}", parameters={"i": i, "deep": {"odd": i % 2}}))
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    found = store.fetch_trials({"parameters.deep.odd": 1, "parameters.i": {"$gte": 45}})
    assert sorted(t.name for t in found) == ["t45", "t47", "t49"]
    selects = [s for s in statements if "FROM trials t WHERE" in s and "ORDER BY t.id" in s]
    assert len(selects) == 1 and 'json_extract(t.parameters, \'$."deep"."odd"\')' in selects[0]
    store.close()


WRITER = """
import sys
from track import TrackClient
uri, name, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = TrackClient(uri, flush_interval=0.2)
trial = client.new_trial(name=name, parameters={"worker": name})
with trial:
    for step in range(steps):
        trial.log_metrics(step=step, a=step, b=step * 0.5, c=-step)
client.close()
"""


@pytest.mark.slow
def test_32_processes_write_every_point(sql_uri: str) -> None:
    """32 processes x 2,000 steps x 3 metrics into one store: every point is there, no errors."""
    steps = 2000
    results = run_all([["-c", WRITER, sql_uri, f"w{i}", str(steps)] for i in range(32)], 110)
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr and "Error" not in result.stderr, result.stderr
    store = get_protocol(sql_uri)
    trials = store.fetch_trials(None, with_metrics=False)
    assert sorted(t.name for t in trials) == sorted(f"w{i}" for i in range(32))
    for trial in trials:
        assert trial.status == Status.Completed
        series = store.get_trial_metrics(trial)
        assert [len(series[k]) for k in "abc"] == [steps] * 3, trial.name
        assert [p[0] for p in series["b"]] == list(range(steps))
    store.close()


RESERVER = """
import sys
from track.persistence import get_protocol
from track.structure import CustomStatus
store = get_protocol(sys.argv[1])
mine = []
while True:
    trial = store.fetch_and_update_trial(
        {"status": "CreatedGroup"}, "set_trial_status", CustomStatus("reserved", 1)
    )
    if trial is None:
        break
    mine.append(trial.uid)
print(" ".join(mine))
"""


@pytest.mark.slow
def test_12_processes_reserve_distinct_trials(sql_uri: str) -> None:
    """12 processes reserving through fetch_and_update_trial never get the same trial."""
    store = get_protocol(sql_uri)
    for i in range(120):
        store.new_trial(Trial(name="r", parameters={"i": i}))
    results = run_all([["-c", RESERVER, sql_uri] for _ in range(12)], 90)
    reserved = []
    for result in results:
        assert result.returncode == 0, result.stderr
        reserved.extend(result.stdout.split())
    assert len(reserved) == 120 and len(set(reserved)) == 120
    assert len(store.fetch_trials({"status": "reserved"})) == 120
    store.close()


def _backend_waiting_on_lock(admin, schema_pid: int) -> bool:
    row = admin.execute(
        "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (schema_pid,)
    ).fetchone()
    return row is not None and row[0] == "Lock"


def test_cockroach_dialect_retries_serialization_failures(fresh_postgres) -> None:
    """Two conflicting SERIALIZABLE transactions: the cockroach dialect retries and succeeds."""
    psycopg = require("psycopg")

    with fresh_postgres("cockroach") as uri:
        store = get_protocol(uri)
        trial = store.new_trial(Trial(name="contended", parameters={"a": 1}))
        schema = uri.rsplit("schema=", 1)[1]
        pid = store._conn.info.backend_pid
        other = psycopg.connect(uri.replace("cockroach://", "postgresql://").split("?")[0])
        other.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        other.execute(f'SET search_path TO "{schema}"')
        other.commit()
        # the other transaction takes the trial's row lock first
        other.execute(
            "UPDATE trials SET errors = CAST(%s AS JSONB) WHERE uid = %s", ('["other"]', trial.uid)
        )
        done = threading.Event()
        batch = TrialBatch(writer="w", seq=1, errors=["mine"], metrics=[("loss", 0, 1.0, 1.0)])
        writer = threading.Thread(
            target=lambda: (store.log_trial_batch(trial, batch), done.set()), daemon=True
        )
        writer.start()
        with psycopg.connect(uri.replace("cockroach://", "postgresql://").split("?")[0]) as admin:
            admin.autocommit = True
            deadline = time.monotonic() + 20
            while not _backend_waiting_on_lock(admin, pid):
                assert time.monotonic() < deadline, "the store never waited on the row lock"
                time.sleep(0.01)
        other.commit()  # the store's transaction now fails with 40001 and is run again
        assert done.wait(20)
        other.close()
        assert store.retries == 1, "one conflict, one retry"
        stored = store.get_trial(trial)[0]
        assert stored.errors == ["other", "mine"]
        assert stored.metrics["loss"] == [[0, 1.0, 1.0]]
        store.close()


def test_seed_factory_builds_the_cockroach_dialect(fresh_postgres) -> None:
    """make_cockroach_protocol goes through the registry to the SQL store's cockroach dialect."""
    from track.persistence import make_cockroach_protocol

    with fresh_postgres("cockroach") as uri:
        store = make_cockroach_protocol(uri)
        try:
            assert isinstance(store, SQLProtocol) and store.dialect.name == "cockroach"
            trial = Trial(parameters={"x": 1})
            store.new_trial(trial)
            store.log_trial_batch(trial, TrialBatch(metrics=[("loss", 0, 0.5, 1.0)]))
            assert store.get_trial_metrics(trial) == {"loss": [[0, 0.5, 1.0]]}
        finally:
            store.close()
