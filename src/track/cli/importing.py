"""``track import SOURCE LOCATION``: bring the runs of another tracker into a track store.

``track import mlflow TRACKING_URI [--experiment NAME]``, ``track import tensorboard LOGDIR``,
``track import wandb OFFLINE_RUN_DIR``: one trial per run, with its parameters, every scalar
point (step and wall time), tags and status. The store (``--store``, default as for the other
commands) is created when missing. ``--project`` files every run in one project; by default
each run goes to its source's own: the MLflow experiment, the wandb project, the TensorBoard
log folder's name. Importing again merges (see :mod:`track.importing.core`): nothing is
duplicated, and points logged since the last import are added.
"""

from __future__ import annotations

import argparse
import importlib

from track.cli.output import progress
from track.cli.store import add_store_argument, default_store
from track.importing.core import import_runs
from track.reading import open_store

#: source -> (module under track.importing, help of its LOCATION argument)
SOURCES: dict[str, tuple[str, str]] = {
    "mlflow": (
        "track.importing.mlflow",
        "MLflow tracking URI (file:///.../mlruns, sqlite:///mlflow.db, http://...)",
    ),
    "tensorboard": (
        "track.importing.tensorboard",
        "TensorBoard log folder (every run folder under it)",
    ),
    "wandb": (
        "track.importing.wandb",
        "wandb offline run folder (wandb/offline-run-*), or a folder of them",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments: one sub-command per source."""
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for name, (_, location) in SOURCES.items():
        sub = sources.add_parser(
            name, help=f"import {name} runs", description=f"import {name} runs"
        )
        sub.add_argument("location", metavar="LOCATION", help=location)
        if name == "mlflow":
            sub.add_argument("--experiment", help="import only this experiment (default: all)")
        add_store_argument(sub)
        sub.add_argument(
            "--project",
            help="track project of every imported run (default: the source's own: MLflow "
            "experiment, wandb project, TensorBoard log folder name)",
        )
        sub.add_argument("--verbose", "-v", action="store_true", help="one line per run")


def run(args: argparse.Namespace) -> int:
    """Read the source's runs and write them into the store; print what was done."""
    module = importlib.import_module(SOURCES[args.source][0])
    options = {"experiment": args.experiment} if args.source == "mlflow" else {}
    runs = module.read_runs(args.location, **options)
    store = open_store(args.store or default_store(), create=True)
    try:
        with progress(f"importing {args.source} runs") as update:
            report = import_runs(
                runs, store, project=args.project, on_run=lambda done: update(done, None)
            )
    finally:
        store.close()
    if args.verbose:
        for line in report.lines:
            print(line)
    print(report.summary())
    return 0
