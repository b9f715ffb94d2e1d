"""Write ``schema5.sqlite``: a SQLite store as track 0.1.0 wrote it (schema 5, one row per point).

Run it ONLY with the 0.1.0 release, the code from before metric points moved to chunks
(schema migration 6, issue #20), never with a later track; e.g. from commit 86c0be3::

    git archive 86c0be3 src | tar -x -C /tmp/track-0.1.0
    PYTHONPATH=/tmp/track-0.1.0/src python tests/persistence/snapshots/make_schema5.py

It refuses to run on a track that writes a newer schema. The snapshot is checked in; the test
``tests/persistence/test_chunk_migration.py`` opens a copy with today's track and compares it
with :func:`trials`, importing this file for that (only ``__main__`` writes anything). Every
value below is exact in binary (no libm), so the test rebuilds the same floats on any machine.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

PROJECT = "migrated"
T0 = 1_700_000_000.0
NAN, INF = float("nan"), float("inf")
#: points per batch when writing: the big series takes many flushes, as a real run would
BATCH = 1000
#: the big series: more than two chunks of 8192 points
BIG = 20_000

Point = tuple[Any, Any, float]


def _points(steps: list[Any], values: list[Any], start: float = T0) -> list[Point]:
    return [(s, v, start + i * 0.25) for i, (s, v) in enumerate(zip(steps, values, strict=True))]


def trials() -> dict[str, dict[str, Any]]:
    """Each trial by name: its parameters, status and metrics (name -> ``(step, value, time)``
    points in logging order)."""
    loss = [(i % 13) / 8 - 0.5 for i in range(100)]
    loss[10], loss[20], loss[30] = NAN, INF, -INF
    mixed_steps: list[Any] = [0, 1, 1.5, "eval", None, 2, 2.5, "test", None, 3]
    return {
        "kinds": {
            "parameters": {"lr": 0.1, "seed": 1},
            "status": "Completed",
            "metrics": {
                "loss": _points(list(range(100)), loss),
                "epoch_time": _points([None] * 20, [30 + i / 4 for i in range(20)]),
                "phase": _points([f"phase-{i}" for i in range(12)], list(range(12))),
                "frac": _points([i / 2 for i in range(40)], [i * 3 - 50 for i in range(40)]),
                "mixed_steps": _points(mixed_steps, [i / 16 for i in range(10)]),
                "count": _points(list(range(6)), [0, -1, 2**63 - 1, -(2**63), 7, 42]),
                "mixed_values": _points(list(range(6)), [1, 2.5, 3, -4, 0.125, 6]),
                "all_nan": _points(list(range(3)), [NAN] * 3),
            },
        },
        "big": {
            "parameters": {"lr": 0.01, "seed": 2},
            "status": "Completed",
            "metrics": {
                "loss": _points(
                    list(range(BIG)), [((i * 7919) % 10007) / 1024 for i in range(BIG)]
                ),
                "acc": _points(list(range(0, 200, 10)), [i / 32 for i in range(20)]),
            },
        },
        "empty": {"parameters": {"lr": 0.001, "seed": 3}, "status": "Interrupted", "metrics": {}},
    }


def write(path: Path) -> None:
    """Write the store with the running track (which must be 0.1.0), then VACUUM it."""
    import track
    from track.persistence.protocol import TrialBatch
    from track.persistence.sql import SQLProtocol
    from track.persistence.sql.schema import SCHEMA_VERSION
    from track.structure import Project, Status, Trial

    if track.__version__ != "0.1.0" or SCHEMA_VERSION != 5:
        sys.exit(
            f"run this with track 0.1.0 (schema 5), not {track.__version__} ({SCHEMA_VERSION})"
        )
    if path.exists():
        path.unlink()
    store = SQLProtocol(f"sqlite:///{path}")
    store.new_project(Project(name=PROJECT, description="written by track 0.1.0"))
    for name, spec in trials().items():
        trial = store.new_trial(Trial(name=name, project_id=PROJECT, parameters=spec["parameters"]))
        assert trial is not None
        flat = [(metric, *p) for metric, points in spec["metrics"].items() for p in points]
        writer = f"writer-{name}"
        for seq, start in enumerate(range(0, len(flat), BATCH), 1):
            batch = TrialBatch(writer=writer, seq=seq, metrics=flat[start : start + BATCH])
            assert store.log_trial_batch(trial, batch)
        store.set_trial_status(trial, Status[spec["status"]])
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    conn.close()


if __name__ == "__main__":
    target = Path(__file__).with_name("schema5.sqlite")  # not .db: .gitignore has *.db
    write(target)
    print(f"wrote {target} ({os.path.getsize(target)} bytes)")
