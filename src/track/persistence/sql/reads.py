"""Reading trials back from SQL rows: documents, groups, and series loaded only when asked.

``build_trials`` turns rows of ``TRIAL_COLUMNS`` into trials. With ``with_metrics=False`` each
series contributes only its last point, kept in the ``series`` table, so a table of thousands
of trials never touches the ``chunks`` table; full series load per series on demand. The same
rows carry each series' count, min and max, kept on write: what ``fetch_summaries`` answers.
"""

from __future__ import annotations

from typing import Any

from track.liveness import effective_status_doc
from track.persistence.protocol import MetricSummary
from track.persistence.sql.cursor import Cursor
from track.persistence.sql.dialects import Dialect
from track.persistence.sql.series import read_series
from track.serialization import trial_from_doc
from track.structure import Trial
from track.utils.memory import gc_paused

__all__ = ["build_trials"]

Series = dict[str, list[list[Any]]]


def build_trials(
    dialect: Dialect,
    cur: Cursor,
    rows: list[Any],
    ids: tuple[str, list[Any]],
    with_metrics: bool,
    summaries: dict[str, dict[str, MetricSummary]] | None = None,
) -> list[Trial]:
    """Trials from rows of ``TRIAL_COLUMNS``; ``ids`` is a sub-query selecting their ids.

    With ``with_metrics=False`` and a ``summaries`` dict, each trial's ``{name: [count, min,
    max]}`` is put in it by uid, read from the series rows that give the last points.
    """
    chosen, params = ids
    groups: dict[int, list[str]] = {}
    for trial_id, group_uid in cur.all(
        f"SELECT trial_id, group_uid FROM membership WHERE trial_id IN ({chosen})", *params
    ):
        groups.setdefault(trial_id, []).append(group_uid)
    counted: dict[int, dict[str, MetricSummary]] = {}
    if with_metrics:
        metrics = _series(dialect, cur, chosen, params)
    else:
        with gc_paused():  # hundreds of thousands of small lists, no cycle among them
            metrics = _last_points(dialect, cur, chosen, params, counted)
    with gc_paused():
        return _documents(dialect, rows, groups, metrics, counted, summaries)


def _documents(
    dialect: Dialect,
    rows: list[Any],
    groups: dict[int, list[str]],
    metrics: dict[int, Series],
    counted: dict[int, dict[str, MetricSummary]],
    summaries: dict[str, dict[str, MetricSummary]] | None,
) -> list[Trial]:
    """Trials from their rows, metrics by trial id and group uids; ``summaries`` filled by uid."""
    documents = dialect.load_json_rows([row[11:16] for row in rows])
    trials = []
    for row, (parameters, metadata, tags, chronos, errors) in zip(rows, documents, strict=True):
        trial_id, uid, hash_, revision, name, description, version = row[:7]
        project_id, group_id, status_name, status_value = row[7:11]
        doc = {
            "uid": uid,
            "hash": hash_,
            "revision": revision,
            "name": name,
            "description": description,
            "version": version,
            "project_id": project_id,
            "group_id": group_id,
            "groups": groups.get(trial_id, []),
            "status": None if status_name is None else {"name": status_name, "value": status_value},
            "parameters": parameters,
            "metadata": metadata,
            "tags": tags,
            "chronos": chronos,
            "errors": errors,
        }
        trial = trial_from_doc(effective_status_doc(doc))
        trial.metrics = metrics.get(trial_id, {})
        if summaries is not None:
            summaries[uid] = counted.get(trial_id, {})
        trials.append(trial)
    return trials


def _last_points(
    dialect: Dialect,
    cur: Cursor,
    chosen: str,
    params: list[Any],
    summaries: dict[int, dict[str, MetricSummary]],
) -> dict[int, Series]:
    """Each series' last point by trial id; its ``[count, min, max]`` go in ``summaries``."""
    last = ", ".join(f"last_{c}" for c in dialect.step_columns)
    rows = cur.all(
        f"SELECT trial_id, name, count, min_value, max_value, {last}, last_value, last_time"
        f" FROM series WHERE trial_id IN ({chosen}) ORDER BY id",
        *params,
    )
    points = dialect.decode_points([row[5:] for row in rows])  # one call: 200k rows add up
    metrics: dict[int, Series] = {}
    current, series, summary = None, {}, {}
    for row, point in zip(rows, points, strict=True):
        if row[0] != current:  # rows come trial by trial, mostly: look the dicts up once
            current = row[0]
            series = metrics.setdefault(current, {})
            summary = summaries.setdefault(current, {})
        series[row[1]] = [point]
        summary[row[1]] = [row[2], row[3], row[4]]
    return metrics


def _series(dialect: Dialect, cur: Cursor, chosen: str, params: list[Any]) -> dict[int, Series]:
    """Every point of every series, by trial id (one query per series)."""
    metrics: dict[int, Series] = {}
    series = cur.all(
        f"SELECT id, trial_id, name FROM series WHERE trial_id IN ({chosen}) ORDER BY id",
        *params,
    )
    for sid, trial_id, name in series:
        metrics.setdefault(trial_id, {})[name] = read_series(dialect, cur, sid).points()
    return metrics
