"""Step-overhead benchmark: what tracking costs a training step, background work included.

The log call's own time (bench_log.py) is not what a researcher feels: the writer's grouping,
encoding and committing run in the same process, under the same GIL, and slow the training
step. This benchmark times a small numpy training step (four 48x48 matmuls and a tanh, ~50 µs)
that logs K metrics per step, over N steps, with each tool against no tracking, in fresh
processes (median of ``--repeats``, the tools taking turns so that a change of the machine's load
falls on every row alike). Overhead = step time with tracking / without - 1, where "without" is
the same loop computing the same K values and timing a call to a function that does nothing:
the values and the harness are the user's and the benchmark's, not the tracker's. The log call's
median and p99 are measured inside the same loop. ``track-*-process`` rows run with
``TRACK_WRITER=process`` (the writer process, track.writer); for track rows the table also gives
the client's start (``TrackClient(uri)``) and close (finish the trial, close the client) in ms,
and the CPU the client's background threads spent per point logged, from the first step to the
end of close (the flusher, or the writer process's hand-over thread; the GIL they hold is time
the training loop may wait).

    python benchmarks/bench_step.py                       # N=20000, K=3 and K=30, every tool
    python benchmarks/bench_step.py --metrics 3 --tools none,track-sqlite,track-file
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARAMETERS = {"lr": 0.01, "batch_size": 64, "epochs": 10, "optimizer": "adam", "seed": 1}
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

Log = Callable[[int, dict[str, float]], None]


def no_tracking(step: int, values: dict[str, float]) -> None:
    """The baseline's log function: the loop computes and hands over its values, nothing more."""


def training_loop(log: Log, steps: int, k: int) -> dict[str, float]:
    """Time ``steps`` numpy training steps, each logging ``k`` metrics through ``log``."""
    import numpy as np

    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((48, 48)) * 0.1 for _ in range(4)]
    batch = rng.standard_normal((48, 48))
    names = [f"train/m{i}" for i in range(k)]
    clock = time.perf_counter_ns
    calls = [0] * steps
    began = clock()
    for step in range(steps):
        hidden = batch
        for weight in weights:
            hidden = np.tanh(hidden @ weight)
        loss = float(hidden.mean())
        values = {name: loss + i for i, name in enumerate(names)}
        start = clock()
        log(step, values)
        calls[step] = clock() - start
    elapsed = clock() - began
    calls.sort()
    return {
        "step_us": elapsed / steps / 1000,
        "call_median_us": calls[steps // 2] / 1000,
        "call_p99_us": calls[int(steps * 0.99)] / 1000,
    }


@contextmanager
def track_server(workdir: str) -> Iterator[str]:
    """A ``track serve`` on a sqlite store, no users, loopback; yields its socket:// URI."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = f"sqlite:///{workdir}/srv.db"
    server = subprocess.Popen(
        [sys.executable, "-m", "track.cli", "serve", "--store", store, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"socket://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def run_track(uri: str, steps: int, k: int, keywords: bool = False) -> dict[str, float]:
    """track through its public API: ``trial.log_metric_dict(values, step=...)``.

    That is the dict-in call every other tool's row makes; ``keywords`` uses
    ``trial.log_metrics(step=..., **values)`` instead, which adds Python's own cost of matching
    each keyword argument (~0.1 µs per name).
    """
    from track import TrackClient

    began = time.perf_counter()
    client = TrackClient(uri)
    started = time.perf_counter()
    client.set_project(name="bench")
    trial = client.new_trial(parameters=PARAMETERS)
    trial.start()
    # CPU this process spends outside the main thread (the flusher, or the hand-over thread
    # of the writer process), from the first step to the end of close
    background = time.process_time() - time.thread_time()
    if keywords:
        result = training_loop(
            lambda step, values: trial.log_metrics(step=step, **values), steps, k
        )
    else:
        result = training_loop(lambda step, values: trial.log_metric_dict(values, step), steps, k)
    ending = time.perf_counter()
    trial.finish()
    client.close()
    background = time.process_time() - time.thread_time() - background
    result["start_ms"] = (started - began) * 1000
    result["close_ms"] = (time.perf_counter() - ending) * 1000
    result["background_us_per_point"] = background / (steps * k) * 1e6
    return result


def run_wandb(workdir: str, steps: int, k: int) -> dict[str, float]:
    """wandb in offline mode."""
    import wandb

    run = wandb.init(mode="offline", dir=workdir, config=PARAMETERS, project="bench")
    result = training_loop(lambda step, values: run.log(values, step=step), steps, k)
    run.finish()
    return result


def run_mlflow(workdir: str, steps: int, k: int) -> dict[str, float]:
    """MLflow on its sqlite store."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
    mlflow.start_run()
    mlflow.log_params(PARAMETERS)
    result = training_loop(lambda step, values: mlflow.log_metrics(values, step=step), steps, k)
    mlflow.end_run()
    return result


def run_tensorboardx(workdir: str, steps: int, k: int) -> dict[str, float]:
    """tensorboardX, one add_scalar per metric."""
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(logdir=workdir)

    def log(step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            writer.add_scalar(name, value, step)

    result = training_loop(log, steps, k)
    writer.close()
    return result


def run_trackio(workdir: str, steps: int, k: int) -> dict[str, float]:
    """trackio, local."""
    os.environ["TRACKIO_DIR"] = workdir
    import trackio

    trackio.init(project="bench", config=PARAMETERS)
    result = training_loop(lambda step, values: trackio.log(values, step=step), steps, k)
    trackio.finish()
    return result


def run_track_postgres(workdir: str, steps: int, k: int) -> dict[str, float]:
    """track on PostgreSQL, in a schema of its own (dropped afterwards)."""
    import psycopg
    from psycopg import sql

    schema = "bench_step_" + os.path.basename(workdir).replace("-", "_").lower()
    try:
        return run_track(f"{POSTGRES}?schema={schema}", steps, k)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def run_track_socket(workdir: str, steps: int, k: int) -> dict[str, float]:
    """track through a ``track serve`` on the same machine (sqlite behind it)."""
    with track_server(workdir) as uri:
        return run_track(uri, steps, k)


TOOLS: dict[str, tuple[str | None, Callable[[str, int, int], dict[str, float]]]] = {
    "none": (None, lambda workdir, steps, k: training_loop(no_tracking, steps, k)),
    "track-sqlite": (None, lambda d, n, k: run_track(f"sqlite:///{d}/track.db", n, k)),
    "track-file": (None, lambda d, n, k: run_track(f"file://{d}/track.json", n, k)),
    "track-postgres": ("psycopg", run_track_postgres),
    "track-socket": ("msgpack", run_track_socket),
    "trackio": ("trackio", run_trackio),
    "wandb": ("wandb", run_wandb),
    "mlflow": ("mlflow", run_mlflow),
    "tensorboardX": ("tensorboardX", run_tensorboardx),
}
#: the same track rows with the writer process (TRACK_WRITER=process in the child)
PROCESS_SUFFIX = "-process"
for _store in ("track-sqlite", "track-file", "track-postgres", "track-socket"):
    TOOLS[_store + PROCESS_SUFFIX] = TOOLS[_store]
TOOLS["track-sqlite-process-kwargs"] = (
    None,
    lambda d, n, k: run_track(f"sqlite:///{d}/track.db", n, k, keywords=True),
)


def _child(tool: str, steps: int, k: int) -> None:
    workdir = tempfile.mkdtemp(prefix="bench-step-")
    try:
        os.chdir(workdir)
        print(json.dumps(TOOLS[tool][1](workdir, steps, k)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


#: tools whose log call is a database transaction: fewer steps give the same µs per step in
#: seconds instead of minutes (MLflow: ~5 ms per call on its sqlite store)
STEP_CAPS = {"mlflow": 2_000}


def _run_once(tool: str, steps: int, k: int) -> dict[str, float] | str:
    """One fresh process running ``tool``: its figures, or why it failed."""
    steps = min(steps, STEP_CAPS.get(tool, steps))
    env = {**os.environ, "TRACK_WRITER": "process" if PROCESS_SUFFIX in tool else "thread"}
    command = [sys.executable, __file__, "--child", tool, "--steps", str(steps)]
    done = subprocess.run([*command, "--metrics", str(k)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr else '?'}"
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _measure(tools: list[str], steps: int, k: int, repeats: int) -> dict[str, Any]:
    """Each tool's median figures (or why it failed), the tools taking turns ``repeats`` times."""
    runs: dict[str, list[dict[str, float]]] = {tool: [] for tool in tools}
    failed: dict[str, str] = {}
    for _ in range(repeats):
        for tool in tools:
            if tool in failed:
                continue
            figures = _run_once(tool, steps, k)
            if isinstance(figures, str):
                failed[tool] = figures
            else:
                runs[tool].append(figures)
    medians: dict[str, Any] = dict(failed)
    for tool, done in runs.items():
        if tool not in failed:
            medians[tool] = {key: statistics.median(run[key] for run in done) for key in done[0]}
    return medians


#: measured on track rows only: the client's start and close, and the CPU its background
#: threads spent per point logged (they share the GIL with the training loop)
COSTS = ("start_ms", "close_ms", "background_us_per_point")


def _cost(row: dict[str, float], key: str) -> str:
    """One COSTS cell: empty for tools other than track."""
    if key not in row:
        return ""
    return f"{row[key]:.2f}" if key == "background_us_per_point" else f"{row[key]:.0f}"


def _available(tool: str) -> bool:
    module = TOOLS[tool][0]
    return module is None or importlib.util.find_spec(module) is not None


def main() -> None:
    """Run every available tool for each K and print one table per K."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--metrics", default="3,30", help="K values, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.steps, int(args.metrics))
        return
    print(f"{os.cpu_count()} cores; N={args.steps} steps, median of {args.repeats} fresh processes")
    capped = ", ".join(f"{tool} N={cap}" for tool, cap in STEP_CAPS.items() if cap < args.steps)
    if capped:
        print(f"(except {capped})")
    for k in (int(value) for value in args.metrics.split(",")):
        print(f"\nK={k} metrics per step\n")
        print(
            "| tool | µs per step | overhead | log call median µs | log call p99 µs "
            "| start ms | close ms | background CPU µs per point |"
        )
        print("|---|---|---|---|---|---|---|---|")
        tools = ["none", *(t for t in args.tools.split(",") if t != "none")]
        missing = [tool for tool in tools if not _available(tool)]
        rows = _measure([t for t in tools if t not in missing], args.steps, k, args.repeats)
        baseline = rows["none"]["step_us"] if isinstance(rows.get("none"), dict) else None
        for tool in tools:
            row = rows.get(tool, "not installed")
            if isinstance(row, str):
                print(f"| {tool} | {row} | | | | | | |")
                continue
            overhead = "—" if tool == "none" else "?"
            if baseline and tool != "none":
                overhead = f"{(row['step_us'] / baseline - 1) * 100:+.1f} %"
            costs = " | ".join(_cost(row, key) for key in COSTS)
            print(
                f"| {tool} | {row['step_us']:.1f} | {overhead} | {row['call_median_us']:.2f} | "
                f"{row['call_p99_us']:.2f} | {costs} |"
            )


if __name__ == "__main__":
    main()
