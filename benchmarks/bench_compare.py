"""Compare view with many long runs: time to first chart, to all charts drawn, API bytes and time.

Run ``python benchmarks/bench_compare.py [--runs 10 100] [--metrics 10] [--points 100000]``.
For each run count N it builds (once: the file is cached under ``--cache``) a sqlite store of N
completed runs x ``--metrics`` metrics x ``--points`` points, each run written by one large
``log_trial_batch``; starts the real ``track ui`` on it; opens ``#/compare?uids=<all N>`` in
headless Chromium (Playwright) and prints a table. Times are from navigation start (the page's
``performance.now()``): "first chart" is the first ``.js-plotly-plot``, "all charts" is every
chart of the metrics panel holding its N traces, "interactive" the next animation frame after
that. "API MB" is the sum of the API response bodies, "metrics API s" the slowest
``/metrics`` response (request sent to body received) and the sum over all of them, "last API
byte s" when the last ``/metrics`` body arrived (the rest of "all charts" is JSON and Plotly).
A last line per N times one run's ``/metrics`` work in process: store read, shaping, JSON.
The first build of 100 runs takes about 4 minutes and 3.2 GB of disk.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.structure import Project, Status, Trial

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "dashboard"))
from uiprocess import running_ui

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
DONE = {"name": Status.Completed.name, "value": Status.Completed.value}

ALL_DRAWN = """([count, runs]) => {
  const charts = [...document.querySelectorAll('.chart[data-metric]')];
  if (charts.length < count) return false;
  const done = charts.every((c) => c.querySelectorAll('.scatterlayer .trace').length >= runs);
  return done ? performance.now() : false;
}"""
NEXT_FRAME = "() => new Promise((r) => requestAnimationFrame(() => r(performance.now())))"


def build(path: Path, runs: int, metrics: int, points: int) -> list[str]:
    """The uids of the store at ``path``, filling it first unless a finished copy is cached."""
    index = path.with_suffix(".uids.json")
    if path.exists() and index.exists():
        return list(json.loads(index.read_text()))
    partial = path.with_suffix(".part")
    partial.unlink(missing_ok=True)
    store = get_protocol(f"sqlite:///{partial}")
    store.new_project(Project(name="bench"))
    uids = []
    start = time.perf_counter()
    for r in range(runs):
        trial = Trial(name=f"run{r}", parameters={"lr": 10 ** -(r % 5), "seed": r})
        trial.project_id = "bench"
        store.new_trial(trial)
        t0 = 1.7e9 + r
        series = {
            f"m{m}": [
                (
                    s,
                    math.exp(-s / (points / 4)) * (1 + 0.1 * m) + 0.01 * math.sin(s * 0.37 + r),
                    t0 + s,
                )
                for s in range(points)
            ]
            for m in range(metrics)
        }
        meta = {"start_time": t0, "end_time": t0 + points}
        store.log_trial_batch(trial, TrialBatch(series=series, metadata=meta, status=DONE))
        store.commit()
        uids.append(trial.uid)
        print(f"  built run {r + 1}/{runs} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    store.close()
    partial.rename(path)
    index.write_text(json.dumps(uids))
    return uids


def measure(
    browser: Any, url: str, uids: list[str], metrics: int, timeout: float
) -> dict[str, Any]:
    """Open the compare view of ``uids`` and time it (see the module docstring)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    responses: list[Any] = []
    page.on("requestfinished", lambda request: responses.append(request))
    page.set_default_timeout(timeout * 1000)
    row: dict[str, Any] = {}
    page.goto(f"{url}/#/compare?uids={','.join(uids)}")
    try:
        first = page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot').length >= 1"
            " ? performance.now() : false",
            polling=50,
        )
        row["first"] = first.json_value() / 1000
        drawn = page.wait_for_function(ALL_DRAWN, arg=[metrics, len(uids)], polling=50)
        row["all"] = drawn.json_value() / 1000
        row["interactive"] = page.evaluate(NEXT_FRAME) / 1000
    except PlaywrightTimeout:  # report what was reached
        row["error"] = f"> {timeout:.0f}"
    api = [r for r in responses if "/api/" in r.url]
    row["requests"] = len(api)
    row["bytes"] = sum(len(r.response().body()) for r in api if r.response())
    durations = [
        (r.timing["responseEnd"] - r.timing["requestStart"]) / 1000
        for r in api
        if r.url.split("?")[0].endswith("/metrics") and r.timing["responseEnd"] > 0
    ]
    row["metrics_max"] = max(durations, default=float("nan"))
    row["metrics_sum"] = sum(durations)
    origin = page.evaluate("performance.timeOrigin")
    ends = [
        r.timing["startTime"] + r.timing["responseEnd"] - origin
        for r in api
        if r.url.split("?")[0].endswith("/metrics") and r.timing["responseEnd"] > 0
    ]
    row["last_api"] = max(ends, default=float("nan")) / 1000
    page.close()
    return row


def server_cost(path: Path, uid: str) -> tuple[float, float, float]:
    """Seconds the metrics endpoint spends on one run, in process: store read, downsampling, JSON."""
    from track.dashboard.app import metric_series

    store = get_protocol(f"sqlite:///{path}")
    trial = store.fetch_trials({"uid": uid}, with_metrics=False)[0]
    start = time.perf_counter()
    series = store.get_trial_series(trial, None)
    read = time.perf_counter()
    body = {name: metric_series(columns) for name, columns in series.items()}
    shaped = time.perf_counter()
    json.dumps(body)
    done = time.perf_counter()
    store.close()
    return read - start, shaped - read, done - shaped


def main() -> None:
    """Build (or reuse) the stores, measure each and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument(
        "--cache", default=os.path.join(tempfile.gettempdir(), "track-bench-compare")
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for charts")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    os.makedirs(args.cache, exist_ok=True)
    header = (
        "runs | metrics | points/series | first chart s | all charts s | interactive s"
        " | API MB | requests | metrics API s (slowest / sum) | last API byte s"
    )
    lines, costs = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for runs in args.runs:
            name = f"compare-{runs}x{args.metrics}x{args.points}.db"
            start = time.perf_counter()
            uids = build(Path(args.cache) / name, runs, args.metrics, args.points)
            print(f"store {name}: ready in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            with running_ui(f"sqlite:///{Path(args.cache) / name}") as url:
                row = measure(browser, url, uids, args.metrics, args.timeout)
            times = [
                f"{row[k]:.2f}" if k in row else row.get("error", "-")
                for k in ("first", "all", "interactive")
            ]
            lines.append(
                f"{runs} | {args.metrics} | {args.points:,} | {' | '.join(times)}"
                f" | {row['bytes'] / 1e6:.1f} | {row['requests']}"
                f" | {row['metrics_max']:.2f} / {row['metrics_sum']:.1f} | {row['last_api']:.2f}"
            )
            read, shape, encode = server_cost(Path(args.cache) / name, uids[0])
            costs.append(
                f"{runs} runs, one run's /metrics in process: store read {read:.2f} s,"
                f" metric_series (finite + downsample) {shape:.2f} s, JSON {encode:.3f} s"
            )
            print(lines[-1], file=sys.stderr)
        browser.close()
    print(header)
    print("|".join("---" for _ in header.split("|")))
    for line in lines:
        print(line)
    for line in costs:
        print(line)


if __name__ == "__main__":
    main()
