"""``kill -9`` while a SQL store merges chunks leaves every committed point readable exactly once.

A real child process (this file run as a script) logs small batches in a loop through
``SQLProtocol.log_trial_batch``, with chunks of 32 points merged at 3 open chunks, so that a
merge (read the open tail, delete it, write it again with the new points) happens every few
flushes and full chunks are sealed often. Each batch's points follow from its seq alone, so the
parent knows what any prefix of batches holds. The parent SIGKILLs the child at a random moment,
reads which seqs the store recorded as applied, and checks that the store holds exactly the
points of those batches, in order, once, in a compact layout; then it starts the next child with
the same writer id, which first resends the last applied batch (refused) and goes on. The seed
is printed; ``TRACK_CHUNK_KILL_SEED=<seed>`` replays it.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from chunklayout import check_chunk_layout

from track.persistence.protocol import TrialBatch
from track.persistence.sql import SQLProtocol
from track.structure import Trial

CHUNK, MERGE = 32, 3
ROUNDS = 8
#: read at import: the suite's autouse fixture clears TRACK_* variables inside each test
SEED = os.environ.get("TRACK_CHUNK_KILL_SEED")
WRITER_TRIAL = {"name": "killed", "parameters": {"test": "chunk kill"}}

Point = tuple[Any, Any, float]


def batch_points(seq: int) -> dict[str, list[Point]]:
    """The points batch ``seq`` logs: a float series every time, an int series every other
    time, and one of mixed steps (None, str, float) every third; every tenth batch is bigger
    than a chunk."""
    size = 40 if seq % 10 == 0 else (seq * 7) % 11 + 1
    points: dict[str, list[Point]] = {
        "loss": [(seq * 100 + i, math.sin(seq + i / 7), seq + i / 1000) for i in range(size)]
    }
    if seq % 2 == 0:
        points["acc"] = [(float(seq) + i / 64, seq * 3 + i, seq + i / 1000) for i in range(3)]
    if seq % 3 == 0:
        mixed: list[Any] = [None, f"s{seq}", seq + 0.5]
        values: list[Any] = [math.nan, seq / 2, -math.inf]
        points["mixed"] = [(mixed[i], values[i], seq + i / 1000) for i in range(3)]
    return points


def batch(writer: str, seq: int) -> TrialBatch:
    metrics = [(name, *p) for name, points in batch_points(seq).items() for p in points]
    return TrialBatch(writer=writer, seq=seq, metrics=metrics)


def child(uri: str, writer: str, start: int) -> None:
    """Log batches from ``start`` on, forever (the parent kills this process).

    After a kill, ``start`` is one past the last applied seq: that batch is sent again first,
    as a writer unsure of its last flush would, and must be refused.
    """
    from track.persistence import chunks
    from track.persistence.sql import series

    chunks.CHUNK_POINTS = series.CHUNK_POINTS = CHUNK
    series.MERGE_AT = MERGE
    store = SQLProtocol(uri)
    trial = Trial(**WRITER_TRIAL)
    if start > 1 and store.log_trial_batch(trial, batch(writer, start - 1)):
        sys.exit(f"batch {start - 1} was applied a second time")
    seq = start
    while True:
        if not store.log_trial_batch(trial, batch(writer, seq)):
            sys.exit(f"batch {seq} was refused")
        seq += 1


# ---- the parent ------------------------------------------------------------------------------


def applied(store: SQLProtocol, writer: str) -> list[tuple[int, int]]:
    """The (first, last) ranges of seqs the store recorded for ``writer``."""
    return store._run(
        lambda cur: cur.all(
            "SELECT first_seq, last_seq FROM applied WHERE writer = ? ORDER BY first_seq", writer
        ),
        write=False,
    )


def last_applied(store: SQLProtocol, writer: str) -> int:
    ranges = applied(store, writer)
    assert len(ranges) <= 1, ranges  # one writer, one seq after the other: one range
    if ranges:
        assert ranges[0][0] == 1
    return ranges[0][1] if ranges else 0


def same(found: Any, expected: Any) -> bool:
    """Equal and of the same type, NaN equal to NaN."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(found, float) and math.isnan(found)
    return type(found) is type(expected) and found == expected


def check_store(store: SQLProtocol, trial: Trial, last: int) -> int:
    """The trial holds exactly the points of batches 1..last, in order, in a compact layout;
    returns how many points that is."""
    expected: dict[str, list[Point]] = {}
    for seq in range(1, last + 1):
        for name, points in batch_points(seq).items():
            expected.setdefault(name, []).extend(points)
    found = store.get_trial_metrics(trial)
    assert set(found) == set(expected)
    for name, points in expected.items():
        assert len(found[name]) == len(points), name
        for got, want in zip(found[name], points, strict=True):
            assert all(map(same, got, want)), (name, got, want)
    counts = {name: len(points) for name, points in expected.items()}
    check_chunk_layout(store, trial, counts, CHUNK, MERGE)
    return sum(map(len, expected.values()))


def next_merges(store: SQLProtocol, trial: Trial, seq: int) -> bool:
    """Whether batch ``seq`` merges a series' open chunks (for the log: where kills land)."""
    open_chunks = dict(
        store._run(
            lambda cur: cur.all(
                "SELECT s.name, s.open_chunks FROM series s JOIN trials t ON t.id = s.trial_id"
                " WHERE t.uid = ?",
                trial.uid,
            ),
            write=False,
        )
    )
    return any(
        open_chunks.get(name, 0) + 1 >= MERGE or len(points) >= CHUNK
        for name, points in batch_points(seq).items()
    )


def run_rounds(uri: str) -> None:
    seed = int(SEED) if SEED else random.randrange(1 << 32)
    print(f"TRACK_CHUNK_KILL_SEED={seed}")
    rng = random.Random(seed)
    writer = uuid.uuid4().hex
    store = SQLProtocol(uri)
    try:
        trial = store.new_trial(Trial(**WRITER_TRIAL))
        assert trial is not None and trial.uid == Trial(**WRITER_TRIAL).uid
        last = 0
        for round_ in range(ROUNDS):
            command = [sys.executable, __file__, uri, writer, str(last + 1)]
            process = subprocess.Popen(command, stderr=subprocess.PIPE)
            target = last + rng.randint(2, 15)
            while last_applied(store, writer) < target:
                if process.poll() is not None:
                    pytest.fail(f"the child exited ({process.returncode}): {process.stderr.read()}")
                time.sleep(0.002)
            time.sleep(rng.random() * 0.03)  # then any moment, a merge's included
            process.send_signal(signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL, process.stderr.read()
            process.stderr.close()
            last = last_applied(store, writer)
            points = check_store(store, trial, last)
            merging = next_merges(store, trial, last + 1)
            print(
                f"round {round_}: killed after batch {last} ({points} points); the batch in"
                f" flight, if any, {'merges' if merging else 'appends'}"
            )
    finally:
        store.close()


def test_sqlite_survives_kills_during_merges(tmp_path: Path) -> None:
    """A SQLite file (WAL): each killed transaction is rolled back whole."""
    run_rounds(f"sqlite:///{tmp_path / 'kill.db'}")


def test_postgresql_survives_kills_during_merges(
    fresh_postgres: Callable[..., AbstractContextManager[str]],
) -> None:
    """PostgreSQL aborts the transaction of a connection whose process died."""
    with fresh_postgres() as uri:
        run_rounds(uri)


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
