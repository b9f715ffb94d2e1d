"""``track compare UID UID...``: parameters and final/best metric values side by side."""

from __future__ import annotations

import argparse

from track.cli.output import is_terminal, print_table
from track.cli.store import add_store_argument, default_store
from track.reading import (
    best_value,
    duration,
    find_trial,
    last_value,
    open_store,
    short_uid,
    status_name,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("uids", nargs="+", metavar="UID", help="trial uids (or unique prefixes)")
    add_store_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Print one row per field (parameter, metric final/best) and one column per trial."""
    protocol = open_store(args.store or default_store())
    try:
        trials = [find_trial(protocol, uid) for uid in args.uids]
    finally:
        protocol.close()
    rows: list[list[object]] = [
        ["name", *(t.name for t in trials)],
        ["status", *(status_name(t) for t in trials)],
        ["duration (s)", *(duration(t) for t in trials)],
    ]
    for name in sorted({k for t in trials for k in t.parameters}):
        rows.append([f"parameters.{name}", *(t.parameters.get(name) for t in trials)])
    for name in sorted({k for t in trials for k in t.metrics}):
        series = [t.metrics.get(name, []) for t in trials]
        rows.append([f"{name} (final)", *(last_value(s) for s in series)])
        rows.append([f"{name} (best)", *(best_value(name, s) for s in series)])
    label = short_uid if is_terminal() else str
    columns = ["field", *(label(t.uid) for t in trials)]
    kinds = {uid: "number" for uid in columns[1:]}
    print_table(columns, rows, kinds, title="comparison")
    return 0
