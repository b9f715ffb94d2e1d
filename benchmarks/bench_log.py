"""Log-call benchmark: track on each store against other trackers, same workload, fresh processes.

Workload: one run, 5 parameters, N steps x K scalar metrics (one call per step), then finish.
The metric dicts are built before the timed loop, so the loop times only the tools' calls.
Each tool runs in its own subprocess (``--child``), repeated ``--repeats`` times; the table shows
the median of the repeats. Columns: median and p99 time inside one log call, loop time,
finish/flush time, end-to-end points/s, peak RSS, and the time to read one metric's series back
through the tool's own API (with a check that every point is there).

    python benchmarks/bench_log.py                      # N=100000, K=3, every tool installed
    python benchmarks/bench_log.py --steps 20000 --tools track-ephemeral,track-file,mlflow
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARAMETERS = {"lr": 0.01, "batch_size": 64, "epochs": 10, "optimizer": "adam", "seed": 1}


def _timed_loop(log: Callable[[int, dict[str, float]], None], steps: int, k: int) -> dict:
    names = [f"m{i}" for i in range(k)]
    workload = [{name: step * 0.001 + i for i, name in enumerate(names)} for step in range(steps)]
    durations = [0] * steps
    clock = time.perf_counter_ns
    began = time.perf_counter()
    for step, values in enumerate(workload):
        start = clock()
        log(step, values)
        durations[step] = clock() - start
    loop = time.perf_counter() - began
    durations.sort()
    return {
        "median_us": durations[steps // 2] / 1000,
        "p99_us": durations[int(steps * 0.99)] / 1000,
        "loop_s": loop,
    }


def run_track(uri: str, steps: int, k: int) -> dict:
    """track through its public API; read back through a fresh store object."""
    from track import TrackClient
    from track.persistence import get_protocol

    client = TrackClient(uri)
    client.set_project(name="bench")
    trial = client.new_trial(parameters=PARAMETERS)
    trial.start()
    result = _timed_loop(lambda step, values: trial.log_metrics(step=step, **values), steps, k)
    began = time.perf_counter()
    trial.finish()
    client.save()
    result["finish_s"] = time.perf_counter() - began
    reader = client.protocol if uri.startswith("ephemeral") else get_protocol(uri)
    began = time.perf_counter()
    series = reader.get_trial_metrics(trial.trial, ["m0"])["m0"]
    result["read_s"] = time.perf_counter() - began
    result["complete"] = [p[0] for p in series] == list(range(steps))
    return result


def run_mlflow(workdir: str, steps: int, k: int) -> dict:
    """MLflow with its sqlite store, one log_metrics call per step."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
    run = mlflow.start_run()
    mlflow.log_params(PARAMETERS)
    result = _timed_loop(lambda step, values: mlflow.log_metrics(values, step=step), steps, k)
    began = time.perf_counter()
    mlflow.end_run()
    result["finish_s"] = time.perf_counter() - began
    began = time.perf_counter()
    history = MlflowClient().get_metric_history(run.info.run_id, "m0")
    result["read_s"] = time.perf_counter() - began
    result["complete"] = sorted(m.step for m in history) == list(range(steps))
    return result


def run_tensorboardx(workdir: str, steps: int, k: int) -> dict:
    """tensorboardX SummaryWriter, one add_scalar per metric per step."""
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(logdir=workdir)
    writer.add_hparams(PARAMETERS, {})

    def log(step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            writer.add_scalar(name, value, step)

    result = _timed_loop(log, steps, k)
    began = time.perf_counter()
    writer.close()
    result["finish_s"] = time.perf_counter() - began
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    began = time.perf_counter()
    events = EventAccumulator(workdir, size_guidance={"scalars": 0})
    events.Reload()
    steps_read = [event.step for event in events.Scalars("m0")]
    result["read_s"] = time.perf_counter() - began
    result["complete"] = sorted(steps_read) == list(range(steps))
    return result


def run_wandb(workdir: str, steps: int, k: int) -> dict:
    """wandb in offline mode, one log call per step."""
    import wandb

    run = wandb.init(mode="offline", dir=workdir, config=PARAMETERS, project="bench")
    result = _timed_loop(lambda step, values: run.log(values, step=step), steps, k)
    began = time.perf_counter()
    run.finish()
    result["finish_s"] = time.perf_counter() - began
    sys.path.insert(0, str(ROOT / "tests" / "forward"))
    from wandb_reader import history  # wandb ships no reader of offline run files

    began = time.perf_counter()
    (run_file,) = Path(workdir).glob("wandb/offline-run-*/run-*.wandb")
    steps_read = [row["_step"] for row in history(run_file) if "m0" in row]
    result["read_s"] = time.perf_counter() - began
    result["complete"] = sorted(steps_read) == list(range(steps))
    return result


def run_trackio(workdir: str, steps: int, k: int) -> dict:
    """trackio (local), one log call per step."""
    os.environ["TRACKIO_DIR"] = workdir
    import trackio

    run = trackio.init(project="bench", config=PARAMETERS)
    result = _timed_loop(lambda step, values: trackio.log(values, step=step), steps, k)
    began = time.perf_counter()
    trackio.finish()
    result["finish_s"] = time.perf_counter() - began
    from trackio.sqlite_storage import SQLiteStorage

    began = time.perf_counter()
    rows = SQLiteStorage.get_metric_values(project="bench", run=run.name, metric_name="m0")
    result["read_s"] = time.perf_counter() - began
    result["complete"] = sorted(row["step"] for row in rows) == list(range(steps))
    return result


def _track_tool(scheme_uri: Callable[[str], str]) -> Callable[[str, int, int], dict]:
    return lambda workdir, steps, k: run_track(scheme_uri(workdir), steps, k)


TOOLS: dict[str, tuple[str | None, Callable[[str, int, int], dict]]] = {
    "track-ephemeral": (None, _track_tool(lambda d: "ephemeral:")),
    "track-file": (None, _track_tool(lambda d: f"file://{d}/track.json")),
    "track-sqlite": ("track.persistence.sql", _track_tool(lambda d: f"sqlite:///{d}/track.db")),
    "mlflow": ("mlflow", run_mlflow),
    "tensorboardX": ("tensorboardX", run_tensorboardx),
    "wandb": ("wandb", run_wandb),
    "trackio": ("trackio", run_trackio),
}


def _child(tool: str, steps: int, k: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        os.chdir(workdir)
        result = TOOLS[tool][1](workdir, steps, k)
    result["points_per_s"] = steps * k / (result["loop_s"] + result["finish_s"])
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _available(tool: str) -> bool:
    module = TOOLS[tool][0]
    return module is None or importlib.util.find_spec(module) is not None


def _measure(tool: str, steps: int, k: int, repeats: int) -> dict[str, Any] | str:
    runs = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, __file__, "--child", tool, "--steps", str(steps), "--metrics", str(k)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr else '?'}"
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    keys = [key for key in runs[0] if isinstance(runs[0][key], (int, float))]
    summary: dict[str, Any] = {key: statistics.median(r[key] for r in runs) for key in keys}
    summary["complete"] = (
        all(r["complete"] for r in runs) if runs[0]["complete"] is not None else None
    )
    return summary


def main() -> None:
    """Run every available tool and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--metrics", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.steps, args.metrics)
        return
    print(f"N={args.steps} steps x K={args.metrics} metrics, median of {args.repeats} runs\n")
    header = (
        "tool",
        "median µs",
        "p99 µs",
        "loop s",
        "finish s",
        "points/s",
        "RSS MB",
        "read s",
        "all points",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for tool in args.tools.split(","):
        if not _available(tool):
            print(f"| {tool} | not installed |" + " |" * (len(header) - 2))
            continue
        row = _measure(tool, args.steps, args.metrics, args.repeats)
        if isinstance(row, str):
            print(f"| {tool} | {row} |" + " |" * (len(header) - 2))
            continue
        read = "n/a" if row.get("read_s") is None else f"{row['read_s']:.3f}"
        complete = {True: "yes", False: "NO", None: "not checked"}[row["complete"]]
        print(
            f"| {tool} | {row['median_us']:.2f} | {row['p99_us']:.2f} | {row['loop_s']:.3f} | "
            f"{row['finish_s']:.3f} | {row['points_per_s']:,.0f} | {row['peak_rss_mb']:.0f} | "
            f"{read} | {complete} |"
        )


if __name__ == "__main__":
    main()
