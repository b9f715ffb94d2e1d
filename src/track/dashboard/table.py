"""The trials table on the server: select, sort by any column, and slice one page.

The protocol has no paging, so each request fetches the matching trials once (each metric
holding only its last point), sorts them in this process and returns one page. Sorting puts
trials without a value in the sorted column last, whatever the order.

Chosen metric summaries (``loss:min``, ``acc:last``...) become ``summaries.<metric>:<kind>``
columns; they are read with :meth:`~track.persistence.protocol.Protocol.fetch_summaries`, which
SQL stores answer from the count, min and max they keep per series, without reading series.
"""

from __future__ import annotations

import math
from typing import Any

from track.errors import InvalidValue
from track.persistence.protocol import MetricSummary, Protocol
from track.reading import select_trials, summary_row, trial_query
from track.structure import Trial

__all__ = ["SUMMARY_KINDS", "TablePage", "json_safe", "parse_summary", "sort_rows", "trials_page"]

#: what a summary column may show of a metric
SUMMARY_KINDS = ("last", "min", "max")

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
    if name and section in ("parameters", "metrics", "summaries"):
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


def parse_summary(text: str) -> tuple[str, str]:
    """``"loss:min"`` as ``("loss", "min")``: a metric and one of :data:`SUMMARY_KINDS`."""
    metric, _, kind = text.rpartition(":")
    if not metric or kind not in SUMMARY_KINDS:
        raise InvalidValue(
            f"a summary column is metric:last, metric:min or metric:max, not {text!r}"
        )
    return metric, kind


def _summarized(
    protocol: Protocol, query: dict[str, Any] | None, columns: list[str]
) -> tuple[list[Trial], list[dict[str, Any]]]:
    """The matching trials, oldest first, and their rows with a ``summaries`` cell per column."""
    parsed = [(column, *parse_summary(column)) for column in columns]
    found = protocol.fetch_summaries(query)
    rows = []
    for trial, summaries in found:
        row = summary_row(trial)
        row["summaries"] = {c: _summary_value(row, summaries, m, k) for c, m, k in parsed}
        rows.append(row)
    rows.sort(key=lambda r: (r["start_time"] or 0.0, r["uid"]))
    return [t for t, _ in found], rows


def _summary_value(
    row: dict[str, Any], summaries: dict[str, MetricSummary], metric: str, kind: str
) -> Any:
    if kind == "last":
        return row["metrics"].get(metric)
    summary = summaries.get(metric)
    return None if summary is None else summary[1 if kind == "min" else 2]


def trials_page(
    protocol: Protocol,
    project: str | None = None,
    group: str | None = None,
    where: dict[str, Any] | None = None,
    sort: str = "start_time",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
    summaries: list[str] | None = None,
) -> TablePage:
    """One page of the table: the rows, the total, and every parameter and metric column.

    ``summaries`` (``["loss:min", "acc:last"]``) adds those columns to every row, sortable.
    """
    if summaries:
        columns = list(dict.fromkeys(summaries))
        query = trial_query(protocol, project, group, where)
        trials, rows = _summarized(protocol, query, columns)
    else:
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
        "summaries": list(dict.fromkeys(summaries or [])),
        "rows": json_safe(page),
    }
