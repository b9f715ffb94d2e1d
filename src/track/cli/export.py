"""``track export``: trials as a tidy table, one row per metric point or one row per trial.

Per point: ``uid, name, project, group, status, <parameters>, metric, step, value, time``.
With ``--summary``: ``uid, name, project, group, status, start_time, duration, <parameters>,
<metric last values>``. Parameters become columns named ``parameters.<name>`` (and metric
values ``metrics.<name>``), so a table from any selection of trials has one schema.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterator
from typing import Any

from track.cli import UserError
from track.cli.ls import add_selection_arguments
from track.cli.output import progress
from track.cli.store import default_store
from track.persistence.protocol import Protocol
from track.reading import open_store, parse_where, select_trials, summary_row
from track.structure import Trial

FORMATS = ("csv", "json", "parquet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    add_selection_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="csv", help="output format")
    parser.add_argument("--summary", action="store_true", help="one row per trial")
    parser.add_argument("--output", "-o", help="write to this file (default: standard output)")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _summary_rows(trials: list[Trial]) -> tuple[list[str], Iterator[dict[str, Any]]]:
    parameters = sorted({k for t in trials for k in t.parameters})
    metrics = sorted({k for t in trials for k in t.metrics})
    base = ["uid", "name", "project", "group", "status", "start_time", "duration"]
    columns = base + [f"parameters.{p}" for p in parameters] + [f"metrics.{m}" for m in metrics]

    def rows() -> Iterator[dict[str, Any]]:
        for trial in trials:
            row = summary_row(trial)
            flat = {k: row[k] for k in base}
            flat.update({f"parameters.{k}": v for k, v in row["parameters"].items()})
            flat.update({f"metrics.{k}": v for k, v in row["metrics"].items()})
            yield flat

    return columns, rows()


def _point_rows(
    protocol: Protocol, trials: list[Trial]
) -> tuple[list[str], Iterator[dict[str, Any]]]:
    parameters = sorted({k for t in trials for k in t.parameters})
    base = ["uid", "name", "project", "group", "status"]
    columns = base + [f"parameters.{p}" for p in parameters] + ["metric", "step", "value", "time"]

    def rows() -> Iterator[dict[str, Any]]:
        with progress("exporting trials") as update:
            for done, trial in enumerate(trials, 1):
                yield from _trial_points(protocol, trial, base)
                update(done, len(trials))

    return columns, rows()


def _trial_points(protocol: Protocol, trial: Trial, base: list[str]) -> Iterator[dict[str, Any]]:
    """One trial's rows of the point table: its identity and parameters, then each point."""
    head = {k: v for k, v in summary_row(trial).items() if k in base}
    head.update({f"parameters.{k}": v for k, v in trial.parameters.items()})
    for metric, points in sorted(protocol.get_trial_metrics(trial).items()):
        for step, value, when in points:
            yield {**head, "metric": metric, "step": step, "value": value, "time": when}


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return _finite(value)


def _write_csv(columns: list[str], rows: Iterator[dict[str, Any]], out: Any) -> None:
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})


def _write_json(columns: list[str], rows: Iterator[dict[str, Any]], out: Any) -> None:
    out.write("[")
    for i, row in enumerate(rows):
        record = {c: _finite(row.get(c)) for c in columns}
        out.write(("," if i else "") + "\n" + json.dumps(record, default=str))
    out.write("\n]\n")


def _write_parquet(columns: list[str], rows: Iterator[dict[str, Any]], path: Any) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(
            "parquet export needs pyarrow: pip install 'track[parquet]' (or pip install pyarrow)"
        ) from None
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for row in rows:
        for column in columns:
            value = row.get(column)
            data[column].append(json.dumps(value) if isinstance(value, (dict, list)) else value)
    arrays = {}
    for column, values in data.items():
        try:
            arrays[column] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[column] = pa.array([None if v is None else str(v) for v in values])
    pq.write_table(pa.table(arrays), path)


def run(args: argparse.Namespace) -> int:
    """Write the table to ``--output`` or standard output."""
    where = parse_where(args.where)
    if args.format == "parquet" and args.output is None and sys.stdout.isatty():
        raise UserError("parquet is binary: give --output FILE or redirect standard output")
    protocol = open_store(args.store or default_store())
    try:
        trials = select_trials(protocol, args.project, args.group, where)
        if args.summary:
            columns, rows = _summary_rows(trials)
        else:
            columns, rows = _point_rows(protocol, trials)
        if args.format == "parquet":
            _write_parquet(columns, rows, args.output or sys.stdout.buffer)
        elif args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                (_write_csv if args.format == "csv" else _write_json)(columns, rows, out)
        else:
            (_write_csv if args.format == "csv" else _write_json)(columns, rows, sys.stdout)
    finally:
        protocol.close()
    return 0
