"""Reading a store for people: open it, select trials, summarize them, parse a short query.

Shared by the command line and the dashboard, so both show the same status, duration and
values, and accept the same queries. Only :class:`~track.persistence.protocol.Protocol` reads
are used, so every store works; nothing here imports the write path (``track.client``).

The short query form is ``PATH OP VALUE`` terms: ``parameters.lr>0.01 status=completed``
means ``{"parameters.lr": {"$gt": 0.01}, "status": "completed"}``. Operators: ``= == != > >=
< <= ~`` (``~`` is a regular expression). A value is read as JSON when it parses (``0.01``,
``true``, ``null``, ``"a b"``) and as text otherwise; ``status=new,running`` lists values
(``$in``; with ``!=``, ``$nin``). Terms all must hold. A query starting with ``{`` is JSON.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import sys
import time
from typing import Any, TextIO

from track.configuration import options
from track.errors import ConfigurationError, NotFound
from track.persistence import get_protocol
from track.persistence.existing import StoreNotFound
from track.persistence.protocol import Protocol
from track.persistence.utils import parse_uri, redact
from track.query import MAX_REGEX_LENGTH, QueryError, parse
from track.structure import Status, Trial

__all__ = [
    "NoStore",
    "StoreError",
    "best_value",
    "display_name",
    "duration",
    "find_trial",
    "format_value",
    "human_duration",
    "last_value",
    "metric_summary",
    "open_store",
    "parse_where",
    "print_stored_summary",
    "print_summary",
    "select_trials",
    "short_uid",
    "sparkline",
    "status_name",
    "store_uri",
    "summary_row",
    "summary_text",
    "summary_wanted",
    "trial_query",
    "ui_command",
    "varying_parameters",
]

#: schemes whose location is a file that must exist before it is opened for reading
_FILE_SCHEMES = ("file", "pickled")
#: schemes of SQL stores, opened for reading with ``create=False``
_SQL_SCHEMES = ("sqlite", "postgresql", "postgres", "cockroach")
#: a metric whose name contains one of these is best when smallest; any other when largest
_LOWER_IS_BETTER = ("loss", "err", "mse", "mae", "rmse", "perplexity", "ppl", "time", "nll")


class StoreError(ConfigurationError):
    """A store that cannot be opened, or a trial name it cannot resolve to one trial."""


class NoStore(StoreError, NotFound):
    """The URI names no store; reading creates none (a :class:`~track.errors.NotFound` too)."""


def open_store(uri: str, create: bool = False) -> Protocol:
    """Open a store for reading, creating nothing: a store that does not exist is :class:`NoStore`.

    File stores must exist; SQL stores are opened with ``create=False``, so a missing SQLite
    file, or a PostgreSQL database or schema without track's tables, is refused untouched.
    ``create=True`` (a command that writes, like ``copy`` to its destination) creates it.
    """
    parsed = parse_uri(uri)
    missing = parsed.scheme in _FILE_SCHEMES and not os.path.exists(parsed.location or "")
    if missing and not create:
        raise NoStore(f"no store at {parsed.location!r} (from {parsed.redacted()})")
    options = {"create": False} if parsed.scheme in _SQL_SCHEMES and not create else {}
    try:
        return get_protocol(parsed, **options)
    except StoreNotFound as error:
        raise NoStore(f"{error} (from {parsed.redacted()})") from None
    except ImportError as error:
        raise StoreError(f"cannot open {parsed.redacted()}: {error}") from None
    except OSError as error:
        raise StoreError(f"cannot open {parsed.redacted()}: {error.strerror or error}") from None
    except Exception as error:
        if not _is_driver_error(error):
            raise
        raise StoreError(f"cannot open {parsed.redacted()}: {error}") from None


def _is_driver_error(error: Exception) -> bool:
    """True for a database driver's error (unreachable server, missing database, bad login)."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.Error)


def trial_query(
    protocol: Protocol,
    project: str | None = None,
    group: str | None = None,
    where: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The query selecting trials of a project and/or group (by name or uid) and ``where``."""
    selection: dict[str, Any] = {}
    if project is not None:
        if not protocol.fetch_projects({"uid": project}):
            raise NotFound(f"no project {project!r} in this store")
        selection["project_id"] = project
    if group is not None:
        found = protocol.fetch_groups({"uid": group}) or protocol.fetch_groups({"name": group})
        if project is not None:
            found = [g for g in found if g.project_id == project]
        if not found:
            raise NotFound(f"no group {group!r} in this store")
        selection["group_id"] = {"$in": [g.uid for g in found]}
    if where and selection:
        return {"$and": [where, selection]}
    return where or selection or None


def select_trials(
    protocol: Protocol,
    project: str | None = None,
    group: str | None = None,
    where: dict[str, Any] | None = None,
) -> list[Trial]:
    """Matching trials, each metric holding only its last point, oldest first."""
    trials = protocol.fetch_trials(trial_query(protocol, project, group, where), with_metrics=False)
    return sorted(trials, key=lambda t: (_number(t.metadata.get("start_time")) or 0.0, t.uid))


def find_trial(protocol: Protocol, uid: str, with_metrics: bool = True) -> Trial:
    """The trial with this uid, or a unique trial whose uid starts with it (like git).

    With ``with_metrics=False`` each metric holds only its last point (a cheaper read).
    """
    exact = protocol.fetch_trials({"uid": uid}, with_metrics=False)
    if not exact:
        hash_, _, revision = uid.rpartition("_")
        pattern = f"^{_escape(uid)}"
        if hash_ and revision.isdigit():
            pattern = f"^{_escape(hash_)}[0-9a-f]*_{revision}$"
        if len(pattern) <= MAX_REGEX_LENGTH:  # longer than any uid: nothing to look up
            exact = protocol.fetch_trials({"uid": {"$regex": pattern}}, with_metrics=False)
    if not exact:
        raise NotFound(f"no trial {uid!r} in this store")
    if len(exact) > 1:
        raise StoreError(f"{uid!r} names {len(exact)} trials; give more of the uid")
    return protocol.get_trial(exact[0])[0] if with_metrics else exact[0]


def short_uid(uid: str) -> str:
    """A uid shortened for people (``be7179299a95_0``); :func:`find_trial` accepts it back."""
    hash_, _, revision = uid.rpartition("_")
    return f"{hash_[:12]}_{revision}" if len(hash_) > 12 else uid


def _escape(text: str) -> str:
    """``text`` as a literal RE2 pattern (RE2 refuses escaped non-ASCII characters)."""
    return "".join(c if c.isalnum() or c == "_" or not c.isascii() else "\\" + c for c in text)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def status_name(trial: Trial) -> str:
    """The status as people read it (``Completed``, ``Running``, ``reserved``, ...)."""
    return trial.status.name if trial.status is not None else "-"


def duration(trial: Trial, now: float | None = None) -> float | None:
    """Seconds from start to end (or to the last heartbeat / now while running), None if unknown."""
    meta = trial.metadata
    start = _number(meta.get("start_time"))
    if start is None:
        return None
    end = _number(meta.get("end_time"))
    if end is None or end < start:
        running = trial.status is Status.Running
        end = (now or time.time()) if running else _number(meta.get("heartbeat"))
    return None if end is None else max(0.0, end - start)


def last_value(points: list[list[Any]]) -> Any:
    """The value of a series' last point (None for an empty series)."""
    return points[-1][1] if points else None


def best_value(name: str, points: list[list[Any]]) -> Any:
    """The best value of a series: smallest for losses and errors, largest otherwise."""
    values = [p[1] for p in points if isinstance(p[1], (int, float)) and not math.isnan(p[1])]
    if not values:
        return None
    lower = any(word in name.lower() for word in _LOWER_IS_BETTER)
    return min(values) if lower else max(values)


def varying_parameters(trials: list[Trial]) -> list[str]:
    """Parameter names whose value differs between trials (all of them for a single trial)."""
    names = sorted({k for t in trials for k in t.parameters})
    if len(trials) < 2:
        return names
    varying = [n for n in names if len({repr(t.parameters.get(n)) for t in trials}) > 1]
    return varying or names


def display_name(trial: Trial) -> str | None:
    """The name people see: the display name given by a rename, else the trial's own name."""
    shown = trial.metadata.get("display_name")
    return shown if isinstance(shown, str) and shown else trial.name


def summary_row(trial: Trial) -> dict[str, Any]:
    """A trial as one flat row: identity, status, times, parameters and last metric values."""
    return {
        "uid": trial.uid,
        "name": display_name(trial),
        "project": trial.project_id,
        "group": trial.group_id,
        "status": status_name(trial),
        "start_time": _number(trial.metadata.get("start_time")),
        "duration": duration(trial),
        "parameters": dict(trial.parameters),
        "metrics": {k: last_value(v) for k, v in trial.metrics.items()},
    }


#: eight levels of a sparkline, lowest first
_SPARKS = "▁▂▃▄▅▆▇█"
#: rich styles of statuses, by name (anything else is drawn dim)
STATUS_STYLES = {
    "Completed": "green",
    "Running": "cyan",
    "Suspended": "yellow",
    "Interrupted": "yellow",
    "Exception": "bold red",
    "Broken": "bold red",
}


def human_duration(seconds: float | None) -> str:
    """A duration as people say it: ``1.7 ms``, ``0.03 s``, ``4.2 s``, ``3 min 05 s``, ``2 h 14 min``."""
    if seconds is None:
        return "-"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def format_value(value: Any) -> str:
    """A value as a short string: numbers to 4 significant digits, None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def sparkline(values: list[float], width: int = 24) -> str:
    """``values`` as at most ``width`` block characters, each the mean of its share of points."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    buckets = min(width, len(finite))
    means = []
    for i in range(buckets):
        part = finite[i * len(finite) // buckets : (i + 1) * len(finite) // buckets]
        means.append(sum(part) / len(part))
    low, high = min(means), max(means)
    span = (high - low) or 1.0
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[round((m - low) / span * top)] for m in means)


def metric_summary(points: list[list[Any]]) -> dict[str, Any]:
    """A series' last value, min, max, point count and sparkline (numbers only for min/max)."""
    numbers = [float(p[1]) for p in points if _number(p[1]) is not None]
    finite = [v for v in numbers if math.isfinite(v)]
    return {
        "last": last_value(points),
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "count": len(points),
        "sparkline": sparkline(numbers),
    }


def store_uri(protocol: Protocol | None) -> str | None:
    """The URI a store was opened with, password hidden (None when the store does not say)."""
    return redact(str(protocol.uri)) if protocol is not None and protocol.uri is not None else None


def summary_wanted(stream: TextIO | None = None) -> bool:
    """Whether to print a trial's summary at its end: ``TRACK_SUMMARY`` (or ``summary`` in
    track.config) ``1``/``0`` forces it on/off; by default only when ``stream`` (stderr) is a
    terminal, so batch jobs and test runs stay quiet and pay no read-back."""
    wanted = options("summary", "auto")
    if isinstance(wanted, (bool, int)):
        return bool(wanted)
    if str(wanted).lower() in ("0", "false", "no", "off"):
        return False
    if str(wanted).lower() in ("1", "true", "yes", "on"):
        return True
    return bool(getattr(stream or sys.stderr, "isatty", lambda: False)())


def _rich_console(stream: TextIO) -> Any:
    """A rich Console on ``stream``, or None when rich is not importable (plain text then)."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(file=stream, highlight=False, soft_wrap=False)


def summary_text(trial: Trial, store: str | None = None) -> str:
    """The summary of :func:`print_summary` as plain text (no colours, no rich)."""
    lines = [_heading(trial)]
    if store:
        lines.append(f"stored in   {store}")
    if trial.parameters:
        lines.append("parameters  " + "  ".join(_parameters(trial)))
    rows = _metric_rows(trial)
    if rows:
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:4], widths[1:], strict=True)]
            lines.append("  ".join([*cells, row[4]]).rstrip())
    if store:
        lines.append(f"open it:    {ui_command(store)}")
    return "\n".join(lines) + "\n"


def ui_command(store: str) -> str:
    """The command that opens the dashboard on ``store`` (already redacted)."""
    return f"track ui --store {shlex.quote(store)}"


def print_summary(trial: Trial, store: str | None = None, stream: TextIO | None = None) -> None:
    """Print a trial for people: name/uid, status, duration, store, parameters, each metric's
    last/min/max with a sparkline, and the command that opens it; rich when importable."""
    stream = stream or sys.stdout
    console = _rich_console(stream)
    if console is None:
        stream.write(summary_text(trial, store))
        stream.flush()
        return
    from rich.table import Table
    from rich.text import Text

    status = status_name(trial)
    heading = Text.assemble(
        (display_name(trial) or "(unnamed)", "bold"),
        f"  {trial.uid}  ",
        (status, STATUS_STYLES.get(status, "dim")),
        f"  in {human_duration(duration(trial))}",
    )
    console.print(heading, soft_wrap=True)
    if store:
        console.print(Text.assemble(("stored in   ", "dim"), store), soft_wrap=True)
    if trial.parameters:
        console.print(
            Text.assemble(("parameters  ", "dim"), "  ".join(_parameters(trial))), soft_wrap=True
        )
    rows = _metric_rows(trial)
    if rows:
        table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold cyan")
        table.add_column("metric", no_wrap=True)
        for name in ("last", "min", "max"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("", no_wrap=True)
        for row in rows[1:]:
            table.add_row(*row[:4], Text(row[4], style="cyan"))
        console.print(table)
    if store:
        console.print(
            Text.assemble(("open it:    ", "dim"), (ui_command(store), "bold")), soft_wrap=True
        )


def print_stored_summary(protocol: Protocol, trial: Trial, stream: TextIO | None = None) -> None:
    """Read ``trial`` back from ``protocol`` (every point) and print its summary, naming the
    store; what ``with trial:`` prints at its end and ``report()`` prints."""
    stored = protocol.get_trial(trial)
    print_summary(stored[0] if stored else trial, store_uri(protocol), stream)


#: the header of the summary's metric table
_METRIC_HEADER = ("metric", "last", "min", "max", "")


def _heading(trial: Trial) -> str:
    name = display_name(trial) or "(unnamed)"
    return f"{name}  {trial.uid}  {status_name(trial)}  in {human_duration(duration(trial))}"


def _parameters(trial: Trial) -> list[str]:
    return [f"{k}={format_value(v)}" for k, v in sorted(trial.parameters.items())]


def _metric_rows(trial: Trial) -> list[tuple[str, str, str, str, str]]:
    """The metric table, header first; empty when the trial logged no metric."""
    if not trial.metrics:
        return []
    rows = [_METRIC_HEADER]
    for name, points in sorted(trial.metrics.items()):
        stats = metric_summary(points)
        cells = (format_value(stats[k]) for k in ("last", "min", "max"))
        rows.append((name, *cells, stats["sparkline"]))
    return rows


#: one term of the short query form, ``PATH OP VALUE``
_TERM = re.compile(r"^(?P<path>[A-Za-z_][\w.\-]*)\s*(?P<op>==|!=|>=|<=|=|>|<|~)(?P<value>.*)$")
#: the short form's operators as the query language's
_OPERATORS = {"=": "$eq", "==": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt"}
_OPERATORS.update({"<=": "$lte", "~": "$regex"})


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _term(term: str) -> tuple[str, str, Any]:
    match = _TERM.match(term)
    if match is None:
        raise QueryError(
            f"bad query term {term!r}: expected PATH OP VALUE with OP one of = != > >= < <= ~"
        )
    path, op, text = match["path"], _OPERATORS[match["op"]], match["value"]
    if text == "":
        raise QueryError(f"bad query term {term!r}: no value after the operator")
    if op == "$regex":
        return path, op, text
    if "," in text and op in ("$eq", "$ne") and not text.startswith(("[", '"')):
        return path, "$in" if op == "$eq" else "$nin", [_value(v) for v in text.split(",")]
    return path, op, _value(text)


def parse_where(text: str | None) -> dict[str, Any] | None:
    """A query dict from JSON or the short form, validated; :class:`QueryError` explains a bad one."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    query: dict[str, Any]
    if text.startswith("{"):
        try:
            query = json.loads(text)
        except json.JSONDecodeError as error:
            raise QueryError(f"query is not valid JSON: {error}") from None
    else:
        try:
            terms = shlex.split(text)
        except ValueError as error:
            raise QueryError(f"bad query {text!r}: {error}") from None
        query = {}
        for term in terms:
            path, op, value = _term(term)
            conditions = query.setdefault(path, {})
            if op in conditions:
                raise QueryError(f"query term {term!r} repeats a condition on {path}")
            conditions[op] = value
    parse(query)
    return query
