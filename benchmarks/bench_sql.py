"""SQL store figures: ingest points/s (1 and 32 writers), filter latency, 1M-point read, size,
and the first chart of a very long series.

Usage::

    python benchmarks/bench_sql.py [--postgres postgresql://postgres@127.0.0.1:5432/test]
                                   [--points 3000000] [--trials 10000]
                                   [--preview-points 100000000]
    python benchmarks/bench_sql.py --ingest-only [--repeat 3]

Runs against a fresh SQLite file and (when reachable) a fresh PostgreSQL schema, dropped
afterwards, and prints one table. Writes go through ``log_trial_batch`` with pipeline-sized
batches (what the write pipeline sends): this measures the store, not the logging loop; "through
the client" times the same points logged with ``trial.log_metrics`` until ``client.save()``
returns (logging loop, pipeline and store together). With MLflow installed, its SQLite tracking
store runs the same ingest and read for comparison.

Reads of the 1,000,000-point series: ``get_trial_series`` (columns: what a program reading many
points uses) and ``get_trial_metrics`` (a list of ``[step, value, time]`` lists). Size is given
for smooth values (``step * 0.001``) and for random ones (which no encoding compresses). The
long-series figure writes one series of ``--preview-points`` points, then times what the
dashboard does for its first chart: the store's chunk summaries, downsampled to 2,000 points.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.structure import Trial

BATCH = 30_000  # points per batch: about what one flush of a busy training loop carries


def _batches(trial: Trial, points: int, writer: str) -> list[TrialBatch]:
    now = time.time()
    batches = []
    for seq, start in enumerate(range(0, points, BATCH), 1):
        metrics = [
            (name, step, step * 0.001, now)
            for step in range(start // 3, (start + BATCH) // 3)
            for name in ("loss", "acc", "lr")
        ]
        batches.append(TrialBatch(writer=writer, seq=seq, metrics=metrics[: points - start]))
    return batches


def _ingest(uri: str, name: str, points: int, barrier: Any = None) -> float:
    """Write ``points`` points to a new trial; returns the seconds spent in the store.

    With a ``barrier``, the connection, the trial and the batches are ready before it is
    passed, so that writers started together write together.
    """
    store = get_protocol(uri)
    trial = store.new_trial(Trial(name=name, parameters={"writer": name}))
    batches = _batches(trial, points, uuid.uuid4().hex)
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    for batch in batches:
        store.log_trial_batch(trial, batch)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def _ingest_job(args: tuple[str, str, int, Any]) -> float:
    uri, name, points, barrier = args
    return _ingest(uri, name, points, barrier)


def ingest_parallel(uri: str, writers: int, points_each: int, prefix: str = "w") -> float:
    """Points/s with ``writers`` processes writing at once: the wall clock from the moment all
    are ready (connected, batches built) to the last one done."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(writers + 1)
    with ctx.Pool(writers) as pool:
        jobs = [(uri, f"{prefix}{i}", points_each, barrier) for i in range(writers)]
        result = pool.map_async(_ingest_job, jobs)
        barrier.wait()
        start = time.perf_counter()
        result.get()
        elapsed = time.perf_counter() - start
    return writers * points_each / elapsed


def through_client(uri: str, points: int) -> float:
    """Points/s through the public API: a trial logs ``points // 3`` steps of 3 metrics, then
    ``client.save()`` returns once every point is stored (the writes overlap the logging, as in
    a training loop)."""
    from track import TrackClient

    client = TrackClient(uri)
    client.set_project(name="bench-client")
    trial = client.new_trial(name=f"client-{uuid.uuid4().hex[:8]}")
    start = time.perf_counter()
    for step in range(points // 3):
        trial.log_metrics(step=step, loss=step * 0.001, acc=1 - step * 1e-7, lr=0.1)
    client.save()
    elapsed = time.perf_counter() - start
    client.close()
    return 3 * (points // 3) / elapsed


def filter_latency(uri: str, trials: int) -> tuple[float, float, float]:
    """Median ms of a parameter filter over ``trials`` trials (light and full reads), then of a
    light ``metrics.loss.last < x`` filter once every trial has three series."""
    store = get_protocol(uri)
    now = time.time()
    created = []
    for i in range(trials):
        trial = store.new_trial(Trial(name="f", parameters={"lr": i / trials, "i": i}))
        created.append(trial)
        if i % 10 == 0 or i < 50:
            metrics = [("loss", s, 1.0 / (s + 1), now) for s in range(20)]
            store.log_trial_batch(trial, TrialBatch(metrics=metrics))
    query = {"parameters.lr": {"$gte": 0.995}}
    light = _median_ms(lambda: store.fetch_trials(query, with_metrics=False))
    full = _median_ms(lambda: store.fetch_trials(query, with_metrics=True))
    assert len(store.fetch_trials(query, with_metrics=False)) == trials // 200
    for i, trial in enumerate(created):  # the last loss of trial i is i / trials
        metrics = [
            (name, s, i / trials + (24 - s) * scale, now)
            for s in range(20, 25)
            for name, scale in (("loss", 1.0), ("acc", -0.01), ("grad/norm", 3.0))
        ]
        store.log_trial_batch(trial, TrialBatch(metrics=metrics))
    by_metric = {"metrics.loss.last": {"$lt": 0.005}}
    metric = _median_ms(lambda: store.fetch_trials(by_metric, with_metrics=False))
    assert len(store.fetch_trials(by_metric, with_metrics=False)) == trials // 200
    store.close()
    return light, full, metric


def _median_ms(action: Callable[[], Any], repeat: int = 7) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def _write_series(store: Any, trial: Trial, points: int, value: Callable[[int], float]) -> float:
    """Write one series ``loss`` of ``points`` points in pipeline-sized batches; seconds spent."""
    now = time.time()
    writer = uuid.uuid4().hex
    elapsed = 0.0
    for seq, first in enumerate(range(0, points, BATCH), 1):
        metrics = [("loss", s, value(s), now) for s in range(first, min(points, first + BATCH))]
        batch = TrialBatch(writer=writer, seq=seq, metrics=metrics)
        start = time.perf_counter()
        store.log_trial_batch(trial, batch)
        elapsed += time.perf_counter() - start
    return elapsed


def read_series(uri: str, points: int) -> tuple[float, float]:
    """Median seconds to read back one series of ``points`` points: as columns, as lists."""
    store = get_protocol(uri)
    trial = store.new_trial(Trial(name="series", parameters={"n": points}))
    _write_series(store, trial, points, lambda s: s * 0.5)
    columns = statistics.median(
        _seconds(lambda: store.get_trial_series(trial, ["loss"])) for _ in range(5)
    )
    lists = statistics.median(
        _seconds(lambda: store.get_trial_metrics(trial, ["loss"])) for _ in range(3)
    )
    assert len(store.get_trial_series(trial, ["loss"])["loss"]) == points
    store.close()
    return columns, lists


def _seconds(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def size_per_million(uri: str, points: int) -> tuple[float, float]:
    """MB the database grows by per million points: one trial of 3 smooth metrics, then one
    series of random values."""
    store = get_protocol(uri)
    before = _size(store)
    _ingest(uri, "size", points)
    middle = _size(store)
    trial = store.new_trial(Trial(name="random", parameters={"n": points}))
    noise = random.Random(5)
    _write_series(store, trial, points, lambda s: noise.random())
    after = _size(store)
    store.close()
    return (middle - before) / points, (after - middle) / points


def first_chart(uri: str, points: int) -> tuple[float, float]:
    """Seconds to write one ``points``-point series, and median seconds to its first chart."""
    from track.dashboard.app import preview_series

    store = get_protocol(uri)
    trial = store.new_trial(Trial(name="long", parameters={"n": points}))
    write = _write_series(store, trial, points, lambda s: math.sin(s / 1e5) + s * 1e-9)

    def chart() -> None:
        previews = store.get_series_previews(trial, ["loss"])["loss"]
        assert len(preview_series(previews, 2000)["value"]) <= 2002  # + the global min and max

    chart_seconds = statistics.median(_seconds(chart) for _ in range(5))
    store.close()
    return write, chart_seconds


def _size(store: Any) -> int:
    if store.dialect.name == "sqlite":
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return os.path.getsize(store.dialect.path)
    return int(
        store._run(
            lambda cur: cur.one(
                "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )[0]
        )
    )


def mlflow_figures(folder: str, points: int) -> dict[str, str]:
    """The same ingest and read with MLflow's SQLite store, if MLflow is installed."""
    try:
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
    except ImportError:
        return {}
    try:
        client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db")
        run = client.create_run(client.create_experiment("bench"))
    except Exception as error:  # mlflow-skinny has no SQL store (it needs sqlalchemy)
        print(f"MLflow's sqlite store is unavailable: {type(error).__name__}: {error}"[:200])
        return {}
    now = int(time.time() * 1000)
    metrics = [Metric("loss", s * 0.5, now, s) for s in range(points)]
    start = time.perf_counter()
    for first in range(0, points, 1000):  # MLflow's log_batch limit
        client.log_batch(run.info.run_id, metrics=metrics[first : first + 1000])
    ingest = points / (time.perf_counter() - start)
    start = time.perf_counter()
    client.get_metric_history(run.info.run_id, "loss")
    read = time.perf_counter() - start
    return {"ingest 1 writer": f"{ingest:,.0f}", "read series (lists)": f"{read:.2f} s"}


def postgres_schema(base: str) -> tuple[str, Callable[[], None]] | None:
    """A fresh schema URI on ``base`` and a function dropping it; None if unreachable."""
    try:
        import psycopg
        from psycopg import sql

        psycopg.connect(base, connect_timeout=3).close()
    except Exception as error:
        print(f"PostgreSQL at {base} skipped: {error}")
        return None
    schema = f"track_bench_{uuid.uuid4().hex[:12]}"

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    return f"{base}?schema={schema}", drop


def ingest_figures(uri: str, args: argparse.Namespace) -> tuple[float, float]:
    """Points/s from one writer and from 32 together: the medians of ``--repeat`` runs."""
    # every single-writer run first: 32 writers leave the kernel writing back their pages for
    # seconds afterwards, which would land in the next single-writer run
    ones = [args.points / _ingest(uri, f"single{run}", args.points) for run in range(args.repeat)]
    manys = [
        ingest_parallel(uri, 32, args.points // 32, prefix=f"w{run}-") for run in range(args.repeat)
    ]
    return statistics.median(ones), statistics.median(manys)


def measure(uri: str, args: argparse.Namespace) -> dict[str, str]:
    """Every figure for one store (only ingest with ``--ingest-only``)."""
    get_protocol(uri).close()
    one, many = ingest_figures(uri, args)
    if args.ingest_only:
        return {"ingest 1 writer": f"{one:,.0f}", "ingest 32 writers": f"{many:,.0f}"}
    client = through_client(uri, args.points)
    light, full, by_metric = filter_latency(uri, args.trials)
    columns, lists = read_series(uri, 1_000_000)
    smooth, noise = size_per_million(uri, args.points)
    figures = {
        "ingest 1 writer": f"{one:,.0f}",
        "ingest 32 writers": f"{many:,.0f}",
        "through the client (log + save)": f"{client:,.0f}",
        f"filter {args.trials} trials (light)": f"{light:.1f} ms",
        f"filter {args.trials} trials (full)": f"{full:.1f} ms",
        f"filter {args.trials} trials by a metric summary": f"{by_metric:.1f} ms",
        "read series (columns)": f"{columns * 1000:.0f} ms",
        "read series (lists)": f"{lists:.2f} s",
        "bytes/point (smooth)": f"{smooth:.1f}",
        "bytes/point (random)": f"{noise:.1f}",
    }
    if args.preview_points:
        write, chart = first_chart(uri, args.preview_points)
        millions = args.preview_points / 1e6
        figures[f"write {millions:g}M-point series"] = f"{write:.0f} s"
        figures[f"first chart, {millions:g}M points"] = f"{chart * 1000:.0f} ms"
    return figures


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--points", type=int, default=3_000_000)
    parser.add_argument("--preview-points", type=int, default=100_000_000)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1, help="ingest runs (median)")
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="only the ingest figures (this much also runs on a track before chunks)",
    )
    args = parser.parse_args()
    columns: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as folder:
        columns["sqlite"] = measure(f"sqlite:///{folder}/bench.db", args)
        pg = postgres_schema(args.postgres)
        if pg is not None:
            try:
                columns["postgresql"] = measure(pg[0], args)
            finally:
                pg[1]()
        mlflow = {} if args.ingest_only else mlflow_figures(folder, args.points)
        if mlflow:
            columns["mlflow sqlite"] = mlflow
    rows = list(next(iter(columns.values())))
    width = max(len(r) for r in rows) + 2
    print(f"{'':{width}}" + "".join(f"{name:>18}" for name in columns))
    for row in rows:
        print(f"{row:{width}}" + "".join(f"{c.get(row, '-'):>18}" for c in columns.values()))
    print(
        f"(points/s for ingest of {args.points:,} points, K = 3; 'light' = with_metrics=False;"
        " read series = 1,000,000 points)"
    )
    if "mlflow sqlite" not in columns and not args.ingest_only:
        print("MLflow column skipped: install mlflow (with its SQL store) to compare")


if __name__ == "__main__":
    main()
