"""Dashboard figures: trials-table API time at 10,000 trials, time to first chart, page weight.

Run ``python benchmarks/bench_dashboard.py [--trials 10000] [--points 1000000] [--store sqlite|file]``.
It prints a table. The store is filled through the Protocol (one batch per trial), then the
API is timed through Starlette's test client (in process: no socket, JSON encoding included).
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from track.dashboard.app import PLOTLY_JS, STATIC, create_app
from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch
from track.structure import Project, Status, Trial

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

DONE = {"name": Status.Completed.name, "value": Status.Completed.value}


def fill(protocol: Protocol, trials: int) -> None:
    """``trials`` trials of project ``bench``, each with 3 parameters and 2 metrics of 10 points."""
    protocol.new_project(Project(name="bench"))
    now = time.time()
    for i in range(trials):
        trial = Trial(name=f"t{i}", parameters={"lr": 10 ** -(i % 5), "seed": i, "opt": "sgd"})
        trial.project_id = "bench"
        protocol.new_trial(trial)
        points = [(m, s, 1.0 / (s + i + 1), now + s) for m in ("loss", "acc") for s in range(10)]
        meta = {"start_time": now - i, "end_time": now}
        protocol.log_trial_batch(trial, TrialBatch(metrics=points, metadata=meta, status=DONE))
    protocol.commit()


def timed(call: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("sqlite", "file"), default="sqlite")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    for part in ("table", "chart"):
        os.makedirs(os.path.join(folder, part))
    make = {"sqlite": "sqlite:///{}/bench.db", "file": "file://{}/bench.json"}[args.store]
    rows: list[tuple[str, str]] = []

    table_store = get_protocol(make.format(folder + "/table"))
    start = time.perf_counter()
    fill(table_store, args.trials)
    rows.append(
        (f"fill {args.trials} trials ({args.store})", f"{time.perf_counter() - start:.1f} s")
    )
    http = TestClient(create_app(table_store), base_url="http://127.0.0.1")
    for label, query in [
        ("first page, default sort", "/api/trials?limit=50"),
        ("sorted by a metric", "/api/trials?limit=50&sort=metrics.loss&order=asc"),
        ("filtered lr>0.01, page 3", "/api/trials?limit=50&offset=100&where=parameters.lr>0.01"),
    ]:
        seconds, response = timed(lambda q=query: http.get(q))
        size = len(response.content)
        rows.append(
            (f"API trials table: {label}", f"{seconds * 1000:.0f} ms ({size / 1024:.0f} KiB)")
        )
    table_store.close()

    chart_store = get_protocol(make.format(folder + "/chart"))
    chart_store.new_project(Project(name="bench"))
    trial = Trial(name="long", parameters={"n": args.points})
    trial.project_id = "bench"
    chart_store.new_trial(trial)
    now = time.time()
    points = [
        ("loss", s, 1.0 / (1 + s) + (s % 977) * 1e-6, now + s * 1e-3) for s in range(args.points)
    ]
    chart_store.log_trial_batch(trial, TrialBatch(metrics=points))
    chart_store.commit()
    http = TestClient(create_app(chart_store), base_url="http://127.0.0.1")
    url = f"/api/trials/{trial.uid}/metrics"
    read, _ = timed(lambda: chart_store.get_trial_metrics(trial), repeat=3)
    total, response = timed(lambda: http.get(url, headers={"accept-encoding": "gzip"}), repeat=3)
    shown = len(response.json()["loss"]["value"])
    rows.append((f"store read of {args.points:,} points", f"{read * 1000:.0f} ms"))
    rows.append(
        (f"time to first chart data ({args.points:,} -> {shown} points)", f"{total * 1000:.0f} ms")
    )
    rows.append(
        ("  of which downsampling + JSON (total - store read)", f"{(total - read) * 1000:.0f} ms")
    )
    wire = response.headers.get("content-length") or str(len(response.content))
    rows.append(("  transfer size (gzip)", f"{int(wire) / 1024:.0f} KiB"))
    chart_store.close()

    files = [os.path.join(STATIC, n) for n in ("index.html", "app.js", "style.css")] + [PLOTLY_JS]
    raw = sum(os.path.getsize(f) for f in files)
    zipped = sum(len(gzip.compress(Path(f).read_bytes(), 6)) for f in files)
    own = sum(os.path.getsize(f) for f in files[:3])
    rows.append(
        (
            "page weight (html+js+css+plotly.min.js)",
            f"{raw / 1024:.0f} KiB raw, {zipped / 1024:.0f} KiB gzip",
        )
    )
    rows.append(("  of which the dashboard's own files", f"{own / 1024:.1f} KiB raw"))

    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  value")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
