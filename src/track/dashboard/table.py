"""The trials table on the server: select, sort by any column, and slice one page.

The protocol has no paging, so each request fetches the matching trials once (each metric
holding only its last point), sorts them in this process and returns one page. Sorting puts
trials without a value in the sorted column last, whatever the order.
"""

from __future__ import annotations

import math
from typing import Any

from track.persistence.protocol import Protocol
from track.reading import select_trials, summary_row

__all__ = ["TablePage", "json_safe", "sort_rows", "trials_page"]

#: columns every row has, besides ``parameters.<name>`` and ``metrics.<name>``
FIXED_COLUMNS = ("uid", "name", "status", "start_time", "duration", "group")

TablePage = dict[str, Any]


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as strings, which JSON (and the browser) can read."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _cell(row: dict[str, Any], column: str) -> Any:
    section, _, name = column.partition(".")
    if name and section in ("parameters", "metrics"):
        return row[section].get(name)
    return row.get(column)


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value) if not math.isnan(value) else (2, 0)
    if isinstance(value, str):
        return (1, value.lower())
    return (2, repr(value))


def sort_rows(rows: list[dict[str, Any]], column: str, descending: bool = False) -> None:
    """Sort rows in place by a column; rows lacking a value stay last in both orders."""
    present = [r for r in rows if _cell(r, column) is not None]
    missing = [r for r in rows if _cell(r, column) is None]
    present.sort(key=lambda r: _sort_key(_cell(r, column)), reverse=descending)
    rows[:] = present + missing


def trials_page(
    protocol: Protocol,
    project: str | None = None,
    group: str | None = None,
    where: dict[str, Any] | None = None,
    sort: str = "start_time",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> TablePage:
    """One page of the table: the rows, the total, and every parameter and metric column."""
    trials = select_trials(protocol, project, group, where)
    rows = [summary_row(t) for t in trials]
    sort_rows(rows, sort, descending)
    page = rows[offset : offset + limit] if limit > 0 else rows[offset:]
    return {
        "total": len(rows),
        "offset": offset,
        "limit": limit,
        "running": sum(1 for r in rows if r["status"] == "Running"),
        "parameters": sorted({k for t in trials for k in t.parameters}),
        "metrics": sorted({k for t in trials for k in t.metrics}),
        "rows": json_safe(page),
    }
