"""Reading trials back from SQL rows: documents, groups, and series loaded only when asked.

``build_trials`` turns rows of ``TRIAL_COLUMNS`` into trials. With ``with_metrics=False`` each
series contributes only its last point, kept in the ``series`` table, so a table of thousands
of trials never touches the ``points`` table; full series load per series on demand.
"""

from __future__ import annotations

from typing import Any

from track.liveness import effective_status_doc
from track.persistence.sql.cursor import Cursor
from track.persistence.sql.dialects import Dialect
from track.serialization import trial_from_doc
from track.structure import Trial
from track.utils.memory import gc_paused

__all__ = ["build_trials", "series_points"]

Series = dict[str, list[list[Any]]]


def build_trials(
    dialect: Dialect,
    cur: Cursor,
    rows: list[Any],
    ids: tuple[str, list[Any]],
    with_metrics: bool,
) -> list[Trial]:
    """Trials from rows of ``TRIAL_COLUMNS``; ``ids`` is a sub-query selecting their ids."""
    chosen, params = ids
    groups: dict[int, list[str]] = {}
    for trial_id, group_uid in cur.all(
        f"SELECT trial_id, group_uid FROM membership WHERE trial_id IN ({chosen})", *params
    ):
        groups.setdefault(trial_id, []).append(group_uid)
    metrics = _metrics(dialect, cur, chosen, params, with_metrics)
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
        trials.append(trial)
    return trials


def _metrics(
    dialect: Dialect, cur: Cursor, chosen: str, params: list[Any], with_metrics: bool
) -> dict[int, Series]:
    metrics: dict[int, Series] = {}
    if not with_metrics:
        last = ", ".join(f"last_{c}" for c in dialect.step_columns)
        for row in cur.all(
            f"SELECT trial_id, name, {last}, last_value, last_time FROM series"
            f" WHERE trial_id IN ({chosen}) ORDER BY id",
            *params,
        ):
            point = dialect.decode_points([row[2:]])[0]
            metrics.setdefault(row[0], {})[row[1]] = [point]
        return metrics
    series = cur.all(
        f"SELECT id, trial_id, name FROM series WHERE trial_id IN ({chosen}) ORDER BY id",
        *params,
    )
    for sid, trial_id, name in series:
        metrics.setdefault(trial_id, {})[name] = series_points(dialect, cur, sid)
    return metrics


def series_points(dialect: Dialect, cur: Cursor, series_id: int) -> list[list[Any]]:
    """Every ``[step, value, time]`` point of one series, in logging order."""
    steps = ", ".join(dialect.step_columns)
    with gc_paused():
        sql = f"SELECT {steps}, value, time FROM points WHERE series_id = ? ORDER BY seq"
        rows = dialect.fetch_points(cur.raw, dialect.prepare(sql), series_id)
        return dialect.decode_points(rows)
