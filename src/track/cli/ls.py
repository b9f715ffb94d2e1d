"""``track ls``: a table of trials with status, duration, key parameters and last metric values.

Piped, it prints every matching trial and every column as TSV (exact values, a header line).
On a terminal it draws the most recent :data:`TERMINAL_LIMIT` trials as a table that fits the
terminal: columns are taken in order (short uid, name, status, duration, the parameters that
vary between the listed trials, then metrics) while they fit, cells never wrap, and a note says
what was left out and how to ask for it (``--columns``, ``--all``, ``--limit``).
"""

from __future__ import annotations

import argparse
from typing import Any

from track.cli.output import (
    fit_columns,
    format_cell,
    is_terminal,
    print_fitted_table,
    print_table,
    truncate,
)
from track.cli.store import add_store_argument, default_store
from track.errors import ConfigurationError
from track.reading import (
    STATUS_STYLES,
    human_duration,
    open_store,
    parse_where,
    select_trials,
    summary_row,
    varying_parameters,
)

#: how many trials a terminal shows without ``--all`` or ``--limit``: the most recent ones
TERMINAL_LIMIT = 50
#: the columns every listing starts with
FIXED_COLUMNS = ["uid", "name", "status", "duration"]


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """The store and trial-selection options shared by ``ls`` and ``export``."""
    add_store_argument(parser)
    parser.add_argument("--project", help="only trials of this project")
    parser.add_argument("--group", help="only trials of this group (name or uid)")
    parser.add_argument(
        "--where",
        help="a query: JSON or the short form, e.g. 'parameters.lr>0.01 status=completed'",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    add_selection_arguments(parser)
    parser.add_argument(
        "--columns",
        help="comma-separated columns to show, in order (e.g. uid,name,lr,loss), or 'all' "
        "(every parameter too, not only those that vary)",
    )
    count = parser.add_mutually_exclusive_group()
    count.add_argument(
        "--all",
        action="store_true",
        help=f"every matching trial (a terminal shows the most recent {TERMINAL_LIMIT})",
    )
    count.add_argument(
        "--limit", type=_positive, metavar="N", help="only the N most recent matching trials"
    )


def choose_columns(default: list[str], available: list[str], requested: str | None) -> list[str]:
    """The columns ``--columns`` asks for (``all``: every available one; nothing: ``default``)."""
    if requested is None:
        return default
    if requested.strip() == "all":
        return available
    names = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ConfigurationError(
            f"no column {', '.join(unknown)}; the columns are {', '.join(available)}"
        )
    return names


def run(args: argparse.Namespace) -> int:
    """Print one row per matching trial: TSV when piped, a table fitting the terminal on one."""
    where = parse_where(args.where)
    protocol = open_store(args.store or default_store())
    try:
        trials = select_trials(protocol, args.project, args.group, where)
    finally:
        protocol.close()
    terminal = is_terminal()
    limit = None if args.all else args.limit or (TERMINAL_LIMIT if terminal else None)
    total = len(trials)
    if limit is not None:
        trials = trials[-limit:]
    parameters = sorted({p for t in trials for p in t.parameters})
    metrics = sorted({m for t in trials for m in t.metrics})
    default = [*FIXED_COLUMNS, *varying_parameters(trials), *metrics]
    columns = choose_columns(default, [*FIXED_COLUMNS, *parameters, *metrics], args.columns)
    rows = []
    for trial in trials:
        row = summary_row(trial)
        values = {k: row[k] for k in FIXED_COLUMNS}
        values.update({p: row["parameters"].get(p) for p in parameters})
        values.update({m: row["metrics"].get(m) for m in metrics})
        rows.append([values[c] for c in columns])
    if not terminal:
        kinds = {"uid": "uid", "duration": "duration", **{m: "number" for m in metrics}}
        print_table(columns, rows, kinds, title=f"{len(rows)} trials")
        return 0
    numeric = frozenset(["duration", *metrics])
    _print_terminal(columns, rows, numeric, total, every_column=args.columns == "all")
    return 0


def _cell(column: str, value: Any) -> Any:
    """One cell as drawn on a terminal: a short uid, a coloured status, a human duration."""
    if column == "status":
        from rich.text import Text

        return Text(str(value), style=STATUS_STYLES.get(str(value), "dim"))
    if column == "duration":
        return human_duration(value)
    return truncate(format_cell(value, "uid" if column == "uid" else ""))


def _print_terminal(
    columns: list[str],
    rows: list[list[Any]],
    numeric: frozenset[str],
    total: int,
    every_column: bool,
) -> None:
    """Draw the rows as a table fitting the terminal, then say what was left out."""
    from rich.console import Console

    console = Console(highlight=False)
    headers = [truncate(c) for c in columns]
    cells = [[_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in rows]
    widths = [
        max([len(header), *(len(str(row[i])) for row in cells)]) for i, header in enumerate(headers)
    ]
    needed = sum(widths) + 3 * len(widths) + 1
    chosen = list(range(len(columns))) if every_column else fit_columns(widths, console.width)
    title = f"{len(rows)} trials" if len(rows) == total else f"{len(rows)} of {total:,} trials"
    print_fitted_table(
        [headers[i] for i in chosen],
        [[row[i] for i in chosen] for row in cells],
        title=title,
        right=frozenset(headers[i] for i, c in enumerate(columns) if c in numeric),
        width=max(console.width, needed) if every_column else None,
    )
    left_out = [columns[i] for i in range(len(columns)) if i not in chosen]
    if left_out:
        shown = ",".join(columns[i] for i in chosen[:3])
        console.print(
            f"{len(left_out)} column{'s' * (len(left_out) > 1)} left out "
            f"({truncate(', '.join(left_out), 60)}) to fit the terminal: show them with "
            f"--columns {shown},{left_out[0]} or --columns all",
            style="dim",
            soft_wrap=True,
        )
    if total > len(rows):
        console.print(
            f"{total - len(rows):,} older trials not shown: --all shows every trial, "
            f"--limit N the N most recent",
            style="dim",
            soft_wrap=True,
        )
