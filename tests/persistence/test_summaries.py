"""``Protocol.fetch_summaries``: each series' count, min and max, kept by SQL stores on write.

SQL stores answer from the ``series`` table (migration 4 added ``min_value``/``max_value``),
in a fixed number of queries; every store must agree with the Protocol default, which
summarizes the full series.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch
from track.persistence.sql import SQLProtocol
from track.persistence.sql.dialects import make_dialect
from track.persistence.sql.schema import migration_statements
from track.persistence.utils import parse_uri
from track.structure import Trial

NAN = float("nan")
#: batches of (name, step, value) points, applied one after the other
BATCHES = [
    [("loss", 0, 3.0), ("loss", 1, NAN), ("acc", 0, 1)],
    [("loss", 2, 5.0), ("acc", 1, -2), ("nan", 0, NAN)],
    [("loss", 3, -1.5), ("acc", 2, 0)],
]


def same(found: list[object], expected: list[object]) -> bool:
    """Equal lists, NaN included."""
    return len(found) == len(expected) and all(
        f == e
        or (isinstance(f, float) and isinstance(e, float) and math.isnan(f) and math.isnan(e))
        for f, e in zip(found, expected, strict=True)
    )


@pytest.mark.parametrize("kind", ["ephemeral", "file", "sqlite", "postgresql"])
def test_summaries_agree_with_the_full_series(
    kind: str,
    tmp_path: Path,
    store_kinds: dict[str, Callable[[Path], AbstractContextManager[str]]],
) -> None:
    """Count, min and max over several batches (NaN left out, all-NaN gives None), last points."""
    with store_kinds[kind](tmp_path) as uri:
        store = get_protocol(uri)
        try:
            trial = store.new_trial(Trial(name="t", parameters={"a": 1}))
            assert trial is not None
            for seq, points in enumerate(BATCHES, 1):
                metrics = [(name, step, value, 1.0) for name, step, value in points]
                store.log_trial_batch(trial, TrialBatch(writer="w", seq=seq, metrics=metrics))
            ((found, summaries),) = store.fetch_summaries({"uid": trial.uid})
            assert found.uid == trial.uid and found.parameters == {"a": 1}
            expected = Protocol.fetch_summaries(store, {"uid": trial.uid})[0][1]
            assert summaries == expected
            assert summaries == {"loss": [4, -1.5, 5.0], "acc": [3, -2, 1], "nan": [1, None, None]}
            assert same([p[1] for p in found.metrics["loss"]], [-1.5])
            assert same([p[1] for p in found.metrics["nan"]], [NAN])
            assert store.fetch_summaries({"uid": "nothing"}) == []
        finally:
            store.close()


def test_sql_summaries_are_a_fixed_number_of_queries(tmp_path: Path) -> None:
    """Reading 3 or 30 trials runs the same statements: nothing is read trial by trial."""
    store = SQLProtocol(f"sqlite:///{tmp_path / 'store.db'}")
    statements: list[str] = []

    def counted(count: int) -> int:
        for index in range(len(store.fetch_trials(None)), count):
            trial = Trial(name="t", parameters={"i": index})
            trial.metrics = {"loss": [[0, 1.0, 1.0], [1, 0.5, 2.0]], "acc": [[0, 0.1, 1.0]]}
            store.new_trial(trial)
        statements.clear()
        store._conn.set_trace_callback(statements.append)
        assert len(store.fetch_summaries(None)) == count
        store._conn.set_trace_callback(None)
        return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))

    try:
        assert counted(3) == counted(30)
    finally:
        store.close()


def test_migration_4_fills_min_and_max_of_existing_series(tmp_path: Path) -> None:
    """A database written before migration 4 gets each series' min and max from its points."""
    path = tmp_path / "v3.db"
    dialect = make_dialect(parse_uri(f"sqlite:///{path}"))
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version in (1, 2, 3):
            for statement in migration_statements(dialect, version):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        conn.execute(
            "INSERT INTO trials (id, uid, hash, revision, name, parameters, metadata, tags,"
            " chronos, errors) VALUES (1, 'h_0', 'h', 0, 't', '{}', '{}', '{}', '{}', '[]')"
        )
        conn.execute(
            "INSERT INTO series (id, trial_id, name, count, last_step, last_value, last_time)"
            " VALUES (1, 1, 'loss', 3, 2, 4.0, 3.0), (2, 1, 'gone', 1, 0, NULL, 1.0)"
        )
        conn.executemany(
            "INSERT INTO points VALUES (?, ?, ?, ?, ?)",
            [(1, 0, 0, 2.0, 1.0), (1, 1, 1, -3.0, 2.0), (1, 2, 2, 4.0, 3.0), (2, 0, 0, None, 1.0)],
        )
    store = SQLProtocol(f"sqlite:///{path}")
    try:
        ((_, summaries),) = store.fetch_summaries(None)
        assert summaries == {"loss": [3, -3.0, 4.0], "gone": [1, None, None]}
    finally:
        store.close()
