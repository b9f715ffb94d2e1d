"""The query language every store understands, parsed once and evaluated or compiled per store.

A query is a dict from a field path to a value or to operators::

    {"group_id": g, "status": {"$in": ["new", "interrupted"]}, "parameters.lr": {"$gt": 0.01}}

Paths are dotted (``parameters.lr``, ``metadata.gpu``, ``tags.hpo``). Operators: ``$eq $ne
$gt $gte $lt $lte $in $nin $exists $regex``; ``$and``/``$or`` take lists of queries.
``metrics.<name>.<summary>`` tests a summary of a trial's series (see :data:`METRIC_SUMMARIES`):
the last segment is the summary and the rest the metric name, dots and slashes included
(``metrics.val.acc.max`` is the max of ``val.acc``).
``status`` matches a status object, a name (any case) or a value. ``group_id`` matches any of
the groups a trial belongs to. ``_uid`` and ``_hash``, the structures' own dataclass fields (as
Track 0.0.1 queries name them), are aliases of ``uid`` and ``hash`` (see :data:`FIELD_ALIASES`). Stores evaluate the parsed form in memory (:func:`matches`) or
compile it (the SQL store); parsing and validation live here only.

``$regex`` uses RE2 syntax and runs on RE2 (``google-re2``), whose matching time is linear in
the text: a pattern from a dashboard page or a server client cannot freeze the process the way
a backtracking engine can (``^(x|x)+y``). Patterns are bounded to :data:`MAX_REGEX_LENGTH`
characters; RE2 refuses what it cannot run in linear time (backreferences, lookarounds). RE2 is
imported at the first ``$regex``, not with ``track``. PostgreSQL stores match on the server.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from track.errors import InvalidValue
from track.serialization import status_from_doc
from track.structure import AnyStatus, CustomStatus, Status, status_matches

__all__ = [
    "FIELD_ALIASES",
    "MAX_REGEX_LENGTH",
    "METRIC_SUMMARIES",
    "Condition",
    "Logical",
    "QueryError",
    "compile_regex",
    "matches",
    "parse",
    "regex_search",
]

#: field names a query may use for another: the structures' dataclass fields for their properties
FIELD_ALIASES = {"_uid": "uid", "_hash": "hash"}

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex")

#: the longest ``$regex`` pattern accepted, in characters
MAX_REGEX_LENGTH = 1000

#: what ``metrics.<name>.<summary>`` may test, each kept per series by SQL stores: the last
#: point's value, the min and max value (NaN left out), the number of points, the last point's step
METRIC_SUMMARIES = ("last", "min", "max", "count", "step")


class QueryError(InvalidValue):
    """A query that uses an unknown operator or a malformed value (an InvalidValue)."""


@dataclass(frozen=True)
class Condition:
    """One test: the value at ``path`` compared with ``value`` by ``op``.

    For ``$regex``, ``value`` is the pattern text (what SQL stores send) and ``regex`` the RE2
    program compiled once at parse time, which in-memory evaluation runs on every document.
    """

    path: tuple[str, ...]
    op: str
    value: Any
    regex: Any = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op == "$regex":
            object.__setattr__(self, "regex", compile_regex(self.value))


@dataclass(frozen=True)
class Logical:
    """``$and``/``$or`` of sub-queries, each a list of nodes."""

    op: str
    branches: tuple[tuple[Condition | Logical, ...], ...]


Node = Condition | Logical


def compile_regex(pattern: Any) -> Any:
    """The RE2 program of a ``$regex`` pattern; :class:`QueryError` says why one is refused.

    Programs are cached, so that SQL functions called once per row (SQLite's ``track_regexp``)
    compile each pattern once. RE2 is imported at the first ``$regex``, not with ``track``.
    """
    if not isinstance(pattern, str):
        raise QueryError(f"$regex takes a string, not {type(pattern).__name__}")
    if len(pattern) > MAX_REGEX_LENGTH:
        raise QueryError(
            f"$regex pattern of {len(pattern)} characters exceeds the limit of "
            f"{MAX_REGEX_LENGTH} characters"
        )
    return _compile(pattern)


@functools.lru_cache(maxsize=128)
def _compile(pattern: str) -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False  # the refusal is raised below; RE2 would also print it to stderr
    options.never_capture = True  # only whether it matches is needed
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise QueryError(
            f"bad $regex {pattern!r}: {reason}. $regex uses RE2 syntax (linear-time matching): "
            "backreferences and lookarounds are not supported"
        ) from None


def regex_search(pattern: str, text: Any) -> bool:
    """True when ``text`` is a string in which the ``$regex`` ``pattern`` matches somewhere."""
    return isinstance(text, str) and compile_regex(pattern).search(text) is not None


def _normalize_status(value: Any) -> Any:
    if isinstance(value, (Status, CustomStatus)):
        return {"name": value.name, "value": value.value}
    return value


def parse(query: dict[str, Any] | None) -> tuple[Node, ...]:
    """Validate a query and return its conditions (all must hold)."""
    if query is None:
        return ()
    if not isinstance(query, dict):
        raise QueryError(f"a query is a dict, not {type(query).__name__}")
    nodes: list[Node] = []
    for key, spec in query.items():
        if key in ("$and", "$or"):
            if not isinstance(spec, list):
                raise QueryError(f"{key} takes a list of queries")
            nodes.append(Logical(key, tuple(parse(sub) for sub in spec)))
            continue
        if key.startswith("$"):
            raise QueryError(f"unknown top-level operator {key!r}")
        head, *rest = key.split(".")
        path = _metric_path(key) if head == "metrics" else (FIELD_ALIASES.get(head, head), *rest)
        if isinstance(spec, dict) and spec and all(str(k).startswith("$") for k in spec):
            for op, value in spec.items():
                nodes.append(_condition(path, op, value))
        else:
            nodes.append(_condition(path, "$eq", spec))
    return tuple(nodes)


def _metric_path(key: str) -> tuple[str, str, str]:
    """``("metrics", name, summary)``: the last segment is the summary, the name may hold dots."""
    name, _, summary = key.removeprefix("metrics.").rpartition(".")
    if not name or summary not in METRIC_SUMMARIES:
        raise QueryError(
            f"{key!r}: a metric path is metrics.<name>.<summary>, the summary one of "
            f"{', '.join(METRIC_SUMMARIES)} (the name may hold dots: metrics.val.acc.max)"
        )
    return ("metrics", name, summary)


def _condition(path: tuple[str, ...], op: str, value: Any) -> Condition:
    if op not in OPERATORS:
        raise QueryError(f"unknown operator {op!r}; known: {', '.join(OPERATORS)}")
    if op == "$regex" and path[0] == "metrics":
        raise QueryError(f"$regex on {'.'.join(path)}: a metric summary is a number, not a string")
    if op in ("$in", "$nin"):
        if not isinstance(value, (list, tuple, set)):
            raise QueryError(f"{op} takes a list")
        value = tuple(_normalize_status(v) for v in value)
    elif op == "$exists":
        value = bool(value)
    elif op != "$regex":  # a pattern is checked and compiled by Condition itself
        value = _normalize_status(value)
    return Condition(path, op, value)


_MISSING = object()


def _resolve(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = doc
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _stored_status(stored: Any) -> AnyStatus | None:
    """The status a stored ``status`` document designates; None for one that designates none.

    A document without a name or a value, or with an unknown value and no name, matches no
    status instead of failing the whole query.
    """
    if not isinstance(stored, dict):
        return None
    try:
        return status_from_doc(stored)
    except ValueError:
        return None


def _status_equal(stored: Any, wanted: Any) -> bool:
    stored_status = _stored_status(stored)
    if stored_status is None:
        return False
    if isinstance(wanted, dict):
        wanted = status_from_doc(wanted)
    return status_matches(stored_status, wanted)


def _equal(stored: Any, wanted: Any, is_status: bool) -> bool:
    if is_status:
        return _status_equal(stored, wanted)
    return bool(stored == wanted)


def _compare(stored: Any, op: str, wanted: Any) -> bool:
    try:
        if op == "$gt":
            return bool(stored > wanted)
        if op == "$gte":
            return bool(stored >= wanted)
        if op == "$lt":
            return bool(stored < wanted)
        return bool(stored <= wanted)
    except TypeError:
        return False


def _metric_summary(doc: dict[str, Any], name: str, summary: str) -> Any:
    """One of :data:`METRIC_SUMMARIES` of the series ``name`` of a trial document's
    ``[step, value, time]`` points; missing without a point; NaN for a min or max of NaN only."""
    series = doc.get("metrics")
    points = series.get(name) if isinstance(series, dict) else None
    if not isinstance(points, (list, tuple)) or not points:
        return _MISSING
    if summary == "count":
        return len(points)
    if summary in ("last", "step"):
        return points[-1][1 if summary == "last" else 0]
    values = [p[1] for p in points if p[1] == p[1]]  # NaN is the one value unequal to itself
    if not values:
        return math.nan
    return min(values) if summary == "min" else max(values)


def _test(doc: dict[str, Any], cond: Condition) -> bool:
    if cond.path[0] == "metrics":
        stored = _metric_summary(doc, cond.path[1], cond.path[2])
        return _test_value(stored, cond, is_status=False)
    if cond.path == ("group_id",):
        groups = doc.get("groups") or [g for g in (doc.get("group_id"),) if g is not None]
        if cond.op == "$exists":
            return bool(groups) == bool(cond.value)
        if cond.op in ("$ne", "$nin"):
            return all(_test_value(g, cond, is_status=False) for g in groups)
        return any(_test_value(g, cond, is_status=False) for g in groups)
    return _test_value(_resolve(doc, cond.path), cond, is_status=cond.path == ("status",))


def _test_value(stored: Any, cond: Condition, is_status: bool) -> bool:
    op, wanted = cond.op, cond.value
    if op == "$exists":
        return (stored is not _MISSING) == bool(wanted)
    if stored is _MISSING:
        return op in ("$ne", "$nin")
    if op == "$eq":
        return _equal(stored, wanted, is_status)
    if op == "$ne":
        return not _equal(stored, wanted, is_status)
    if op == "$in":
        return any(_equal(stored, w, is_status) for w in wanted)
    if op == "$nin":
        return not any(_equal(stored, w, is_status) for w in wanted)
    if op == "$regex":
        text = stored.get("name") if is_status and isinstance(stored, dict) else stored
        return isinstance(text, str) and cond.regex.search(text) is not None
    if is_status and isinstance(stored, dict):
        stored = stored.get("value")
        wanted = wanted.get("value") if isinstance(wanted, dict) else wanted
    return _compare(stored, op, wanted)


def _holds(doc: dict[str, Any], node: Node) -> bool:
    if isinstance(node, Logical):
        results = (all(_holds(doc, n) for n in branch) for branch in node.branches)
        return all(results) if node.op == "$and" else any(results)
    return _test(doc, node)


def matches(doc: dict[str, Any], conditions: tuple[Node, ...]) -> bool:
    """True when the document satisfies every parsed condition."""
    return all(_holds(doc, node) for node in conditions)
