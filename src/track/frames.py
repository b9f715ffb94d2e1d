"""Runs as data: a store's trials, and a trial's metric points, as pandas or polars DataFrames.

:func:`runs` gives one row per trial: identity, status, times, parameters, tags and each
metric's last, min and max. :func:`history` gives one trial's points, long (one row per point)
or wide (one column per metric). Both read through :class:`~track.persistence.protocol.Protocol`
only, so every store works. :func:`runs` is one store read,
:meth:`~track.persistence.protocol.Protocol.fetch_summaries`: on SQL stores a fixed number of
queries whatever the number of trials, reading each series' last point, count, min and max from
the ``series`` table and never the points.

Columns of :func:`runs`:

- ``uid``, ``name``, ``project``, ``group`` (the name of the trial's group), ``status``
  (``Completed``, ``Running``, ...);
- ``start_time``, ``end_time`` (UTC timestamps; missing when the trial has none) and
  ``duration`` (seconds, see :func:`track.reading.duration`);
- ``parameters.<name>`` per parameter (nested dicts flattened: ``parameters.optim.lr``) and
  ``tags.<name>`` per tag: the paths queries name them by, and the columns of ``track export``;
- ``metrics.<name>.last``, ``metrics.<name>.min``, ``metrics.<name>.max`` per metric (NaN
  points are left out of min and max). The suffix is always the last dotted part, so a metric
  named ``train.loss`` reads back unambiguously from ``metrics.train.loss.min``.

Times of :func:`runs` are UTC datetimes (one per trial, for people); the ``time`` of
:func:`history` points stays seconds since the epoch (a numeric axis, as stored).

pandas and polars are the ``[data]`` extra (``pip install 'track[data]'``): they are imported
when a frame is built, never by ``import track``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

from track.configuration import default_uri
from track.errors import InvalidValue, MissingExtra, import_extra
from track.persistence.protocol import MetricSummary, Protocol
from track.reading import duration, find_trial, open_store, parse_where, status_name, trial_query
from track.structure import Trial
from track.utils.memory import gc_paused

__all__ = ["BACKENDS", "MissingExtra", "history", "plot", "runs"]

#: the DataFrame libraries :func:`runs` and :func:`history` can build, by ``backend`` name
BACKENDS = ("pandas", "polars")
#: the columns every :func:`runs` frame starts with, in order
RUN_COLUMNS = (
    "uid",
    "name",
    "project",
    "group",
    "status",
    "start_time",
    "end_time",
    "duration",
)
#: the columns of a long :func:`history` frame
HISTORY_COLUMNS = ("name", "step", "value", "time")
#: the summary of a metric the store did not summarize (logged between two reads)
_NO_SUMMARY = [0, None, None]
#: what a wide :func:`history` frame may be indexed by
HISTORY_AXES = ("step", "time")


def _library(backend: str) -> ModuleType:
    """The DataFrame library ``backend`` names, imported now (never by ``import track``)."""
    if backend not in BACKENDS:
        raise InvalidValue(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    return import_extra(backend, "data", "a DataFrame")


def _opened(store: str | Protocol | None) -> tuple[Protocol, bool]:
    """The store to read and whether this call opened it (and so closes it)."""
    if isinstance(store, Protocol):
        return store, False
    return open_store(store if store is not None else default_uri()), True


def runs(
    uri: str | Protocol | None = None,
    where: str | dict[str, Any] | None = None,
    project: str | None = None,
    group: str | None = None,
    backend: str = "pandas",
) -> Any:
    """The trials of a store as a DataFrame, one row per trial, oldest first.

    ``uri`` is a store URI (None: the default store, as ``TrackClient()`` picks it) or an open
    store (say ``client.protocol``, after a flush). ``where`` is a query in the command
    line's short form (``"parameters.lr>0.01 status=completed"``) or the query language's
    dict; ``project`` and ``group`` select by name or uid. ``backend="polars"`` returns a
    polars DataFrame. The columns are described in this module's docstring.
    """
    library = _library(backend)
    query = parse_where(where) if isinstance(where, str) else where
    protocol, opened = _opened(uri)
    try:
        found = protocol.fetch_summaries(trial_query(protocol, project, group, query))
        groups = _group_names(protocol, {t.group_id for t, _ in found if t.group_id is not None})
    finally:
        if opened:
            protocol.close()
    found.sort(key=lambda pair: (_number(pair[0].metadata.get("start_time")) or 0.0, pair[0].uid))
    with gc_paused():  # many small acyclic objects: young collections would walk them all
        return _frame(library, _run_columns(found, groups))


def _group_names(protocol: Protocol, uids: set[str]) -> dict[str, str]:
    """The name of each group in ``uids`` (one read for all of them)."""
    if not uids:
        return {}
    found = protocol.fetch_groups({"uid": {"$in": sorted(uids)}})
    return {g.uid: g.name for g in found if g.name is not None}


def _run_columns(
    found: list[tuple[Trial, dict[str, MetricSummary]]], groups: dict[str, str]
) -> dict[str, list[Any]]:
    """The columns of :func:`runs` as lists, one entry per trial (None where it has no value)."""
    trials = [trial for trial, _ in found]
    count = len(trials)
    columns: dict[str, list[Any]] = {
        "uid": [t.uid for t in trials],
        "name": [t.name for t in trials],
        "project": [t.project_id for t in trials],
        "group": [
            None if t.group_id is None else groups.get(t.group_id, t.group_id) for t in trials
        ],
        "status": [status_name(t) for t in trials],
        "start_time": [_timestamp(t.metadata.get("start_time")) for t in trials],
        "end_time": [_timestamp(t.metadata.get("end_time")) for t in trials],
        "duration": [duration(t) for t in trials],
    }
    labels: dict[str, list[Any]] = {}  # parameters and tags
    metrics: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}  # last, min, max
    for index, (trial, summaries) in enumerate(found):
        tags = (("tags." + key, value) for key, value in trial.tags.items())
        for column, value in (*_flattened("parameters.", trial.parameters), *tags):
            if column not in labels:
                labels[column] = [None] * count
            labels[column][index] = value
        for name, points in trial.metrics.items():
            if name not in metrics:
                metrics[name] = ([None] * count, [None] * count, [None] * count)
            last, low, high = metrics[name]
            last[index] = points[-1][1] if points else None
            low[index], high[index] = summaries.get(name, _NO_SUMMARY)[1:]
    for column in sorted(labels, key=lambda c: (not c.startswith("parameters."), c)):
        columns[column] = labels[column]
    for name in sorted(metrics):
        for statistic, values in zip(("last", "min", "max"), metrics[name], strict=True):
            columns[f"metrics.{name}.{statistic}"] = values
    return columns


def _flattened(prefix: str, values: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """``values`` as ``(prefix + dotted path, value)`` pairs, nested dicts walked."""
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from _flattened(f"{prefix}{key}.", value)
        else:
            yield f"{prefix}{key}", value


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _timestamp(value: Any) -> datetime | None:
    """Seconds since the epoch as a UTC datetime (None for a missing or non-finite time)."""
    seconds = _number(value)
    if seconds is None or not math.isfinite(seconds):
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def history(
    trial: Trial | str,
    names: list[str] | None = None,
    x: str = "step",
    wide: bool = False,
    store: str | Protocol | None = None,
    backend: str = "pandas",
) -> Any:
    """A trial's metric points as a DataFrame: long (``name, step, value, time``) or ``wide``.

    ``trial`` is a uid (or a unique prefix of one, like ``track show``) read from ``store``
    (a URI, None for the default store, or an open store), or a :class:`Trial`. A Trial with
    a ``store`` has its series read from it; without one, the points it holds are used (a
    trial read with ``get_trial`` holds them all). ``names`` keeps only those metrics.

    The long frame lists the points of each metric in logging order. The wide frame has one
    column per metric, indexed by ``x`` (``"step"`` or ``"time"``) in increasing order; a
    metric with no point at some ``x`` has a missing value there, two points at the same ``x``
    keep the one logged last, and points without a step are left out when ``x="step"``.
    """
    if x not in HISTORY_AXES:
        raise InvalidValue(f"x must be one of {', '.join(HISTORY_AXES)}, not {x!r}")
    library = _library(backend)
    series = _series(trial, names, store)
    columns: dict[str, list[Any]] = {name: [] for name in HISTORY_COLUMNS}
    for name, points in series.items():
        columns["name"].extend([name] * len(points))
        columns["step"].extend(p[0] for p in points)
        columns["value"].extend(p[1] for p in points)
        columns["time"].extend(p[2] for p in points)
    long = _frame(library, columns)
    if not wide:
        return long
    if backend == "polars":
        return _wide_polars(long, x, list(series))
    return _wide_pandas(long, x, list(series))


def _series(
    trial: Trial | str, names: list[str] | None, store: str | Protocol | None
) -> dict[str, list[list[Any]]]:
    """The series :func:`history` shows, in the order the store lists them."""
    if isinstance(trial, Trial) and store is None:
        return {k: v for k, v in trial.metrics.items() if names is None or k in names}
    protocol, opened = _opened(store)
    try:
        found = trial if isinstance(trial, Trial) else find_trial(protocol, trial, False)
        return protocol.get_trial_metrics(found, names)
    finally:
        if opened:
            protocol.close()


def plot(
    trial: Trial | str,
    names: list[str] | None = None,
    x: str = "step",
    store: str | Protocol | None = None,
) -> Any:
    """One trial's curves as a plotly figure, one line per metric: for a notebook, no server.

    ``trial``, ``names`` and ``store`` are those of :func:`history`; ``x`` is ``"step"``
    (points without a step are left out) or ``"time"`` (UTC). Needs plotly (extra ``[ui]``).
    """
    if x not in HISTORY_AXES:
        raise InvalidValue(f"x must be one of {', '.join(HISTORY_AXES)}, not {x!r}")
    graph_objects = import_extra("plotly.graph_objects", "ui", "plotting a trial")
    figure = graph_objects.Figure()
    for name, points in _series(trial, names, store).items():
        if x == "step":
            shown = [(p[0], p[1]) for p in points if p[0] is not None]
        else:
            shown = [(_timestamp(p[2]), p[1]) for p in points]
        figure.add_trace(
            graph_objects.Scatter(
                x=[p[0] for p in shown], y=[p[1] for p in shown], mode="lines", name=name
            )
        )
    title = trial if isinstance(trial, str) else (trial.name or trial.uid)
    figure.update_layout(title=title, xaxis_title=x, yaxis_title="value")
    return figure


def _frame(library: ModuleType, columns: dict[str, list[Any]]) -> Any:
    """A DataFrame of ``columns`` in ``library``; polars takes columns of mixed types too."""
    if library.__name__ == "polars":
        return library.DataFrame(columns, strict=False)
    return library.DataFrame(columns)


def _wide_pandas(long: Any, x: str, order: list[str]) -> Any:
    """One column per metric (in ``order``), indexed by ``x``; the last point per ``x`` wins."""
    kept = long[long[x].notna()]
    wide = kept.drop_duplicates(["name", x], keep="last").pivot(
        index=x, columns="name", values="value"
    )
    wide = wide.reindex(columns=[n for n in order if n in wide.columns]).sort_index()
    wide.columns.name = None
    return wide


def _wide_polars(long: Any, x: str, order: list[str]) -> Any:
    """The polars form of :func:`_wide_pandas` (``x`` is a column: polars has no index)."""
    polars = importlib.import_module("polars")
    kept = long.filter(polars.col(x).is_not_null())
    if kept.height == 0:
        return polars.DataFrame({x: []})
    wide = kept.pivot(on="name", index=x, values="value", aggregate_function="last")
    return wide.select([x, *(n for n in order if n in wide.columns)]).sort(x)
