"""Runs as data: seconds for ``track.frames.runs()`` and ``history()`` on big stores.

Usage::

    python benchmarks/bench_runs.py [--trials 10000] [--metrics 20] [--points 10]
                                    [--postgres postgresql://postgres@127.0.0.1:5432/test]
                                    [--stores sqlite,file,postgresql]

Builds each store with ``--trials`` trials of ``--metrics`` metrics of ``--points`` points
through the store's own API (``new_trial`` with its series, one call per trial; the file store
defers its commits to one at the end), then times ``runs()`` over the whole store (best of
three, in a fresh store object each time) and ``history()`` of one trial, long and wide. The
target is ``runs()`` of 10,000 trials x 20 metrics in at most 1 s on SQLite. PostgreSQL runs
on a fresh schema, dropped afterwards, when reachable.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench_sql import postgres_schema

from track.frames import history, runs
from track.persistence import get_protocol
from track.structure import Status, Trial


def build(uri: str, trials: int, metrics: int, points: int) -> str:
    """Fill the store at ``uri``; returns the uid of its last trial."""
    store = get_protocol(uri)
    store.defer_commits()
    names = [f"metric_{m:02d}" for m in range(metrics)]
    now = time.time()
    uid = ""
    for index in range(trials):
        series = {
            name: [[step, (index + m + step) % 97 / 97, now + step] for step in range(points)]
            for m, name in enumerate(names)
        }
        trial = Trial(
            name="bench",
            parameters={"index": index, "lr": 10 ** -(index % 5), "optimizer": "sgd"},
            metadata={"start_time": now + index, "end_time": now + index + 60},
            metrics=series,
            status=Status.Completed,
        )
        store.new_trial(trial)
        uid = trial.uid
    store.commit()
    store.close()
    return uid


def best_of(action: Callable[[], Any], times: int = 3) -> tuple[float, Any]:
    """The fastest of ``times`` runs of ``action`` (seconds) and its last result."""
    best, result = float("inf"), None
    for _ in range(times):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(uri: str, args: argparse.Namespace) -> list[str]:
    """One row of the table for the store at ``uri``."""
    start = time.perf_counter()
    uid = build(uri, args.trials, args.metrics, args.points)
    built = time.perf_counter() - start
    seconds, frame = best_of(lambda: runs(uri))
    assert len(frame) == args.trials, (len(frame), args.trials)
    long, _ = best_of(lambda: history(uid, store=uri))
    wide, _ = best_of(lambda: history(uid, store=uri, wide=True))
    return [
        f"{args.trials:,}",
        f"{args.metrics}",
        f"{args.points}",
        f"{built:.1f}",
        f"{seconds:.3f}",
        f"{long:.4f}",
        f"{wide:.4f}",
    ]


def main() -> None:
    """Build the stores, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--points", type=int, default=10, help="points per metric")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--stores", default="sqlite,file,postgresql")
    args = parser.parse_args()
    chosen = args.stores.split(",")
    header = ["store", "trials", "metrics", "points", "build s", "runs() s", "history s", "wide s"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if "sqlite" in chosen:
            rows.append(["sqlite", *measure(f"sqlite:///{folder}/bench.db", args)])
        if "file" in chosen:
            rows.append(["file", *measure(f"file://{folder}/bench.json", args)])
        pg = postgres_schema(args.postgres) if "postgresql" in chosen else None
        if pg is not None:
            try:
                rows.append(["postgresql", *measure(pg[0], args)])
            finally:
                pg[1]()
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    print("(runs(): the whole store, best of 3; history: one trial, all metrics, long and wide)")


if __name__ == "__main__":
    main()
