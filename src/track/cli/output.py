"""Output for people and for pipes: a rich table on a terminal, plain TSV or JSON otherwise.

A command builds its table once (column names and rows of plain values) and calls
:func:`print_table`; whether standard output is a terminal decides the rendering, so
``track ls | cut -f1`` works and ``track ls`` is pleasant to read.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from track.reading import human_duration, short_uid

__all__ = [
    "fit_columns",
    "format_cell",
    "is_terminal",
    "print_fitted_table",
    "print_json",
    "print_table",
    "progress",
    "truncate",
]

#: the widest a cell of a fitted table gets; longer text ends with an ellipsis
MAX_CELL = 32


def is_terminal(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (stdout by default) is a terminal and rich can draw on it."""
    stream = stream or sys.stdout
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    return interactive and importlib.util.find_spec("rich") is not None


@contextmanager
def progress(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress line on stderr while long work runs: yields ``update(done, total)``
    (``total`` None while unknown).

    Drawn (rich.progress: count, rate, elapsed) only when stderr is a terminal, so piped and
    logged output stays clean; elsewhere ``advance`` does nothing.
    """
    if not is_terminal(sys.stderr):
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        """Items per second."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f}/s" if speed else "")

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate()]
    with Progress(
        *columns, TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True
    ) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def format_cell(value: Any, kind: str = "") -> str:
    """A value as a short string: numbers to 4 significant digits, times readable, None as ``-``."""
    if value is None:
        return "-"
    if kind == "uid" and isinstance(value, str):
        return short_uid(value)
    if kind == "duration" and isinstance(value, (int, float)):
        return human_duration(value)
    if kind == "time" and isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value).replace("\t", " ").replace("\n", " ")


def print_table(
    columns: list[str],
    rows: list[list[Any]],
    kinds: dict[str, str] | None = None,
    title: str | None = None,
) -> None:
    """Print rows under columns: a rich table on a terminal, TSV with a header line when piped."""
    kinds = kinds or {}
    if not is_terminal():
        out = sys.stdout
        out.write("\t".join(columns) + "\n")
        for row in rows:
            out.write("\t".join(_plain(v) for v in row) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold cyan", show_lines=False)
    for column in columns:
        numeric = kinds.get(column) in ("number", "duration")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(
            *(format_cell(v, kinds.get(c, "")) for c, v in zip(columns, row, strict=True))
        )
    Console().print(table)


def truncate(text: str, width: int = MAX_CELL) -> str:
    """``text`` cut to ``width`` characters, its end replaced by an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def fit_columns(widths: list[int], available: int, keep: int = 1) -> list[int]:
    """Indices of the columns to draw so that a heavy-head table fits ``available`` characters.

    Columns come in order of priority; each one that fits is taken (a wide one left out lets a
    narrower later one in). The first ``keep`` columns are always drawn. A drawn column costs
    its width plus three characters (padding and border), the table one more (its left edge).
    """
    chosen: list[int] = []
    used = 1
    for index, width in enumerate(widths):
        if index < keep or used + width + 3 <= available:
            chosen.append(index)
            used += width + 3
    return chosen


def print_fitted_table(
    columns: list[str],
    cells: list[list[Any]],
    title: str | None = None,
    right: frozenset[str] = frozenset(),
    width: int | None = None,
) -> None:
    """Draw a rich table whose cells never wrap: ``cells`` are strings or rich Texts, already
    as short as they should be; ``width`` is the console width to draw at (default: the
    terminal's), wider than the terminal only when the caller asked for every column."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, header_style="bold cyan", box=box.HEAVY_HEAD)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", no_wrap=True)
    for row in cells:
        table.add_row(*row)
    Console(width=width, highlight=False).print(table)


def print_json(data: Any) -> None:
    """Print JSON: indented and coloured on a terminal, compact-indented plain text when piped."""
    text = json.dumps(data, indent=2, default=str)
    if not is_terminal():
        sys.stdout.write(text + "\n")
        return
    from rich.console import Console

    Console().print_json(text)
