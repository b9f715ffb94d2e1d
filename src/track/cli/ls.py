"""``track ls``: a table of trials with status, duration, key parameters and last metric values."""

from __future__ import annotations

import argparse

from track.cli.output import print_table
from track.cli.store import add_store_argument, default_store
from track.reading import (
    open_store,
    parse_where,
    select_trials,
    summary_row,
    varying_parameters,
)


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """The store and trial-selection options shared by ``ls`` and ``export``."""
    add_store_argument(parser)
    parser.add_argument("--project", help="only trials of this project")
    parser.add_argument("--group", help="only trials of this group (name or uid)")
    parser.add_argument(
        "--where",
        help="a query: JSON or the short form, e.g. 'parameters.lr>0.01 status=completed'",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    add_selection_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Print one row per matching trial."""
    where = parse_where(args.where)
    protocol = open_store(args.store or default_store())
    try:
        trials = select_trials(protocol, args.project, args.group, where)
    finally:
        protocol.close()
    parameters = varying_parameters(trials)
    metrics = sorted({m for t in trials for m in t.metrics})
    columns = ["uid", "name", "status", "duration", *parameters, *metrics]
    rows = []
    for trial in trials:
        row = summary_row(trial)
        values = [row["uid"], row["name"], row["status"], row["duration"]]
        values += [row["parameters"].get(p) for p in parameters]
        values += [row["metrics"].get(m) for m in metrics]
        rows.append(values)
    kinds = {"uid": "uid", "duration": "duration", **{m: "number" for m in metrics}}
    print_table(columns, rows, kinds, title=f"{len(rows)} trials")
    return 0
