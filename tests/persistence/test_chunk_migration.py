"""Schema migration 6 moves every point of a schema-5 database (one row per point) into chunks.

SQLite: ``snapshots/schema5.sqlite`` was written by track 0.1.0 (``snapshots/make_schema5.py``,
whose :func:`trials` this test imports to know what it holds); a copy opened with today's
store must read back every point, summary and last point, answer queries and accept new
points and old batch ids as before. PostgreSQL: a schema-5 database built here from the shipped
migrations and raw rows in the typed step columns.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType
from typing import Any

from optional import require
from track.persistence.chunks import CHUNK_POINTS
from track.persistence.protocol import TrialBatch
from track.persistence.sql import SQLProtocol
from track.persistence.sql.dialects import make_dialect
from track.persistence.sql.schema import SCHEMA_VERSION, migration_statements
from track.persistence.utils import parse_uri
from track.structure import Trial

SNAPSHOTS = Path(__file__).parent / "snapshots"
NAN, INF = float("nan"), float("inf")

Point = tuple[Any, Any, float]


def generator() -> ModuleType:
    """``snapshots/make_schema5.py``, imported for its description of the snapshot."""
    spec = importlib.util.spec_from_file_location("make_schema5", SNAPSHOTS / "make_schema5.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def migrated(points: list[Point]) -> list[Point]:
    """The points as chunks read them back: migration 6 packs pages of CHUNK_POINTS, and in a
    page holding a float every int value reads back as a float (chunks.py's rule)."""
    found: list[Point] = []
    for start in range(0, len(points), CHUNK_POINTS):
        page = points[start : start + CHUNK_POINTS]
        if all(type(p[1]) is int for p in page):
            found += page
        else:
            found += [(s, float(v), t) for s, v, t in page]
    return found


def same(found: Any, expected: Any) -> bool:
    """Equal and of the same type, NaN equal to NaN."""
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(found, float) and math.isnan(found)
    return type(found) is type(expected) and found == expected


def check_points(found: list[list[Any]], expected: list[Point], what: str) -> None:
    assert len(found) == len(expected), what
    for got, want in zip(found, expected, strict=True):
        assert all(map(same, got, want)), (what, got, want)


def summary(points: list[Point]) -> list[Any]:
    """``[count, min, max]``, NaN left out."""
    values = [p[1] for p in points if p[1] == p[1]]
    return [len(points), min(values, default=None), max(values, default=None)]


def tables(store: SQLProtocol) -> set[str]:
    rows = store._run(
        lambda cur: cur.all("SELECT name FROM sqlite_master WHERE type = 'table'"), write=False
    )
    return {row[0] for row in rows}


def layout(store: SQLProtocol, uid: str, name: str) -> tuple[list[tuple[Any, ...]], Any]:
    """The (first_seq, count, low_step, high_step) of a series' chunks and its open_seq."""
    rows = store._run(
        lambda cur: cur.all(
            "SELECT c.first_seq, c.count, c.low_step, c.high_step, s.open_seq, s.open_chunks"
            " FROM chunks c JOIN series s ON s.id = c.series_id JOIN trials t ON t.id = s.trial_id"
            " WHERE t.uid = ? AND s.name = ? ORDER BY c.first_seq",
            uid,
            name,
        ),
        write=False,
    )
    return [tuple(r[:4]) for r in rows], rows[0][4:]


def test_a_sqlite_database_of_track_0_1_0_migrates(tmp_path: Path) -> None:
    """Every point, summary and last point of the 0.1.0 snapshot reads back from chunks."""
    described = generator()
    specs = described.trials()
    copy = tmp_path / "schema5.sqlite"
    shutil.copyfile(SNAPSHOTS / "schema5.sqlite", copy)
    store = SQLProtocol(f"sqlite:///{copy}")
    try:
        assert "points" not in tables(store) and "chunks" in tables(store)
        versions = store._run(
            lambda cur: cur.column("SELECT version FROM schema_version ORDER BY version"),
            write=False,
        )
        assert versions == list(range(1, SCHEMA_VERSION + 1))

        found = {t.name: t for t in store.fetch_trials({"project_id": described.PROJECT})}
        assert set(found) == set(specs)
        for name, spec in specs.items():
            trial = found[name]
            assert trial.parameters == spec["parameters"]
            assert trial.status is not None and trial.status.name == spec["status"]
            assert set(trial.metrics) == set(spec["metrics"])
            for metric, points in spec["metrics"].items():
                check_points(trial.metrics[metric], migrated(points), f"{name}.{metric}")
                series = store.get_trial_series(trial, [metric])[metric]
                check_points(series.points(), migrated(points), f"{name}.{metric} as columns")

        summaries = {t.name: s for t, s in store.fetch_summaries({"project_id": described.PROJECT})}
        for name, spec in specs.items():
            expected = {metric: summary(points) for metric, points in spec["metrics"].items()}
            assert summaries[name] == expected, name

        for trial in store.fetch_trials({"project_id": described.PROJECT}, with_metrics=False):
            for metric, points in specs[trial.name]["metrics"].items():
                check_points(trial.metrics[metric], [points[-1]], f"last {metric}")

        chosen = store.fetch_trials({"parameters.lr": {"$lt": 0.05}}, with_metrics=False)
        assert sorted(t.name for t in chosen) == ["big", "empty"]
        big = found["big"]
        assert [p[1] for p in big.metrics["loss"][-2:]] == [
            p[1] for p in specs["big"]["metrics"]["loss"][-2:]
        ]

        # the big series: two sealed chunks and an open remainder, with their step bounds
        chunks, (open_seq, open_chunks) = layout(store, big.uid, "loss")
        rest = described.BIG - 2 * CHUNK_POINTS
        assert chunks == [
            (0, CHUNK_POINTS, 0, CHUNK_POINTS - 1),
            (CHUNK_POINTS, CHUNK_POINTS, CHUNK_POINTS, 2 * CHUNK_POINTS - 1),
            (2 * CHUNK_POINTS, rest, 2 * CHUNK_POINTS, described.BIG - 1),
        ]
        assert (open_seq, open_chunks) == (2 * CHUNK_POINTS, 1)
        window = store.get_trial_series(big, ["loss"], 8000, 8400)["loss"]
        expected = [p for p in specs["big"]["metrics"]["loss"] if 8000 <= p[0] <= 8400]
        check_points(window.points(), expected, "a step range across two chunks")

        # old batch ids are still applied once; new points go after the migrated ones
        old = TrialBatch(writer="writer-big", seq=1, metrics=[("loss", -1, 0.0, 0.0)])
        assert store.log_trial_batch(big, old) is False
        new = [("loss", described.BIG + i, i / 4, 2e9 + i) for i in range(3)]
        assert store.log_trial_batch(big, TrialBatch(writer="writer-big", seq=99, metrics=new))
        loss = store.get_trial_metrics(big, ["loss"])["loss"]
        assert len(loss) == described.BIG + 3 and loss[-3:] == [list(p[1:]) for p in new]
    finally:
        store.close()
    reopened = SQLProtocol(f"sqlite:///{copy}")
    try:
        assert len(reopened.get_trial_metrics(big, ["loss"])["loss"]) == described.BIG + 3
    finally:
        reopened.close()


def test_track_runs_reads_the_migrated_summaries(tmp_path: Path) -> None:
    """``track.runs()`` (last, min and max per metric) on the migrated snapshot, with a filter."""
    require("pandas")
    from track.frames import runs

    described = generator()
    copy = tmp_path / "schema5.sqlite"
    shutil.copyfile(SNAPSHOTS / "schema5.sqlite", copy)
    table = runs(f"sqlite:///{copy}", where="parameters.lr<0.05")
    assert sorted(table["name"]) == ["big", "empty"]
    row = table[table["name"] == "big"].iloc[0]
    loss = described.trials()["big"]["metrics"]["loss"]
    assert row["metrics.loss.last"] == loss[-1][1]
    assert [row["metrics.loss.min"], row["metrics.loss.max"]] == summary(loss)[1:]


# ---- PostgreSQL ------------------------------------------------------------------------------

PG_SERIES: dict[str, list[Point]] = {
    "ints": [(i, NAN if i % 1000 == 7 else i / 4, 1e9 + i) for i in range(CHUNK_POINTS + 1008)],
    "floats": [(i / 2, [INF, -INF, 1.5][i % 3], 1e9 + i) for i in range(30)],
    "texts": [(f"s{i}", float(i * 3), 1e9 + i) for i in range(10)],
    "nones": [(None, -i / 8, 1e9 + i) for i in range(5)],
}


def typed(step: Any) -> tuple[Any, Any, Any]:
    """A step as the istep, fstep and sstep columns of schema 1 to 5."""
    if isinstance(step, int):
        return (step, None, None)
    if isinstance(step, float):
        return (None, step, None)
    return (None, None, step)


def build_version_5(uri: str) -> None:
    """A schema-5 database in the URI's schema: one trial and its series, one row per point
    (inserted after migration 3, so that migration 4 computes each series' min and max)."""
    psycopg = require("psycopg")
    from psycopg import sql

    parsed = parse_uri(uri)
    dialect = make_dialect(parsed)
    with psycopg.connect(uri.split("?", 1)[0]) as conn:
        schema = sql.Identifier(parsed.query["schema"])
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        conn.execute(sql.SQL("SET search_path TO {}").format(schema))
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")

        def migrate(*versions: int) -> None:
            for version in versions:
                for statement in migration_statements(dialect, version):
                    assert isinstance(statement, str)
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

        migrate(1, 2, 3)
        conn.execute(
            "INSERT INTO trials (id, uid, hash, revision, name, status_name, status_value,"
            " parameters, metadata, tags, chronos, errors) VALUES (1, 'h_0', 'h', 0, 'pg',"
            " 'Completed', 302, '{\"lr\": 0.5}', '{}', '{}', '{}', '[]')"
        )
        for series_id, (name, points) in enumerate(PG_SERIES.items(), 1):
            step, value, when = points[-1]
            conn.execute(
                "INSERT INTO series (id, trial_id, name, count, last_istep, last_fstep,"
                " last_sstep, last_value, last_time) VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s)",
                (series_id, name, len(points), *typed(step), value, when),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO points (series_id, seq, istep, fstep, sstep, value, time)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [(series_id, seq, *typed(s), v, t) for seq, (s, v, t) in enumerate(points)],
                )
        migrate(4, 5)


def test_a_postgresql_version_5_database_migrates(
    fresh_postgres: Callable[..., AbstractContextManager[str]],
) -> None:
    """Int, float, str and no steps from their typed columns, NaN and infinities, a series of
    more than a chunk: all read back from chunks, with the summaries migration 4 computed."""
    with fresh_postgres() as uri:
        build_version_5(uri)
        store = SQLProtocol(uri)
        try:
            (trial,) = store.fetch_trials({"uid": "h_0"})
            assert isinstance(trial, Trial) and trial.parameters == {"lr": 0.5}
            assert set(trial.metrics) == set(PG_SERIES)
            for name, points in PG_SERIES.items():
                check_points(trial.metrics[name], points, name)
            ((_, summaries),) = store.fetch_summaries({"uid": "h_0"})
            assert summaries == {name: summary(points) for name, points in PG_SERIES.items()}
            (last,) = store.fetch_trials({"uid": "h_0"}, with_metrics=False)
            for name, points in PG_SERIES.items():
                check_points(last.metrics[name], [points[-1]], f"last {name}")
            chunks, (open_seq, open_chunks) = layout(store, "h_0", "ints")
            assert [c[:2] for c in chunks] == [(0, CHUNK_POINTS), (CHUNK_POINTS, 1008)]
            assert (open_seq, open_chunks) == (CHUNK_POINTS, 1)
            window = store.get_trial_series(trial, ["ints", "texts"], 8190, 8193)
            check_points(window["ints"].points(), PG_SERIES["ints"][8190:8194], "range")
            assert window["texts"].points() == []
            versions = store._run(
                lambda cur: cur.column("SELECT version FROM schema_version ORDER BY version"),
                write=False,
            )
            assert versions == list(range(1, SCHEMA_VERSION + 1))
            gone = store._run(lambda cur: cur.one("SELECT to_regclass('points')"), write=False)
            assert gone == (None,)
        finally:
            store.close()
