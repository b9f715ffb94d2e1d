"""Import rates of ``track import``: points/s from MLflow, TensorBoard and wandb into SQLite.

Usage::

    python benchmarks/bench_import.py [--points 100000] [--sources mlflow,tensorboard,wandb]

For each source, one run of ``--points`` points (two metrics) is written with the tool itself
(MLflow's client into a local file store, tensorboardX, wandb offline), then imported into a
fresh SQLite store. Prints one table: the time to read the source (its own reader), to write
the store (batches of ``BATCH_POINTS``), and the whole import's rate. A source whose package is
missing is skipped with a note.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from track.importing.core import MissingExtra, SourceRun, import_runs
from track.persistence import get_protocol

T0 = 1_700_000_000.0


def write_mlflow(folder: Path, points: int) -> str:
    """One MLflow run of ``points`` points in a local file store; its tracking URI."""
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri = f"file://{folder / 'mlruns'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("bench"), run_name="bench")
    metrics = [
        Metric(name, step * 0.001, int((T0 + step) * 1000), step)
        for step in range(points // 2)
        for name in ("loss", "acc")
    ]
    for start in range(0, len(metrics), 1000):  # MLflow's log_batch limit
        client.log_batch(run.info.run_id, metrics=metrics[start : start + 1000])
    client.set_terminated(run.info.run_id)
    return uri


def write_tensorboard(folder: Path, points: int) -> str:
    """One tensorboardX run of ``points`` scalars; its log folder."""
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(str(folder / "logs" / "bench"))
    for step in range(points // 2):
        writer.add_scalar("loss", step * 0.001, step, walltime=T0 + step)
        writer.add_scalar("acc", step * 0.002, step, walltime=T0 + step)
    writer.close()
    return str(folder / "logs")


def write_wandb(folder: Path, points: int) -> str:
    """One wandb offline run of ``points`` points; its wandb folder."""
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    run = wandb.init(project="bench", name="bench", dir=folder, mode="offline")
    for step in range(points // 2):
        run.log({"loss": step * 0.001, "acc": step * 0.002, "_timestamp": T0 + step}, step=step)
    run.finish()
    wandb.teardown()
    return str(folder / "wandb")


SOURCES: dict[str, tuple[str, Callable[[Path, int], str]]] = {
    "mlflow": ("track.importing.mlflow", write_mlflow),
    "tensorboard": ("track.importing.tensorboard", write_tensorboard),
    "wandb": ("track.importing.wandb", write_wandb),
}


def measure(source: str, points: int) -> tuple[float, float, int]:
    """Seconds to read the source, seconds to write the store, points imported."""
    import importlib

    module_name, write = SOURCES[source]
    module = importlib.import_module(module_name)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        location = write(folder, points)
        started = time.perf_counter()
        runs = list(module.read_runs(location))
        read = time.perf_counter() - started
        store = get_protocol(f"sqlite:///{folder / 'track.db'}")
        started = time.perf_counter()
        report = import_runs(_each(runs), store)
        written = time.perf_counter() - started
        store.close()
        return read, written, report.points


def _each(runs: list[SourceRun]) -> Iterator[SourceRun]:
    yield from runs


def main() -> None:
    """Measure each source and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--sources", default=",".join(SOURCES))
    args = parser.parse_args()
    print(f"{'source':<12} {'points':>8} {'read s':>8} {'write s':>8} {'points/s':>10}")
    for source in args.sources.split(","):
        try:
            read, written, count = measure(source, args.points)
        except (ImportError, MissingExtra) as error:
            print(f"{source:<12} skipped: {error}")
            continue
        rate = count / (read + written)
        print(f"{source:<12} {count:>8} {read:>8.2f} {written:>8.2f} {rate:>10,.0f}")


if __name__ == "__main__":
    main()
