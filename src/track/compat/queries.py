"""The seeds' in-memory query helpers, as thin functions over track's one query language.

``execute_query(obj, query)`` tells whether a project, group or trial matches a query, exactly
as a store's ``fetch_*`` would decide (the same :func:`track.query.parse` and
:func:`track.query.matches`, and, for a trial, the same stale-heartbeat rule). The
``query_<op>(obj, attrs, value)`` helpers are one-condition queries: ``query_gt(trial,
"parameters.lr", 0.01)`` is ``execute_query(trial, {"parameters.lr": {"$gt": 0.01}})``;
``attrs`` is a dotted path or the list of its parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from track.compat.types import Document, Query
from track.liveness import effective_status_doc
from track.query import matches, parse
from track.serialization import group_to_doc, project_to_doc, trial_to_doc
from track.structure import Project, Trial, TrialGroup

__all__ = [
    "execute_query",
    "query_eq",
    "query_exists",
    "query_gt",
    "query_gte",
    "query_in",
    "query_lt",
    "query_lte",
    "query_ne",
    "query_nin",
    "query_regex",
]


def _document(obj: Any) -> Document:
    """The document a store would test ``obj`` against."""
    if isinstance(obj, Trial):
        return effective_status_doc(trial_to_doc(obj))
    if isinstance(obj, TrialGroup):
        return group_to_doc(obj)
    if isinstance(obj, Project):
        return project_to_doc(obj)
    if isinstance(obj, dict):
        return obj
    raise TypeError(
        f"execute_query tests a Project, TrialGroup, Trial or document, not {type(obj).__name__}"
    )


def execute_query(obj: Any, query: Query | None) -> bool:
    """True when ``obj`` (a project, group, trial or document) matches ``query``."""
    return matches(_document(obj), parse(query))


def _one(obj: Any, attrs: str | Sequence[str], op: str, value: Any) -> bool:
    path = attrs if isinstance(attrs, str) else ".".join(attrs)
    return execute_query(obj, {path: {op: value}})


def query_eq(obj: Any, attrs: str | Sequence[str], val: Any) -> bool:
    """True when the value at ``attrs`` equals ``val``."""
    return _one(obj, attrs, "$eq", val)


def query_ne(obj: Any, attrs: str | Sequence[str], val: Any) -> bool:
    """True when the value at ``attrs`` differs from ``val`` (or is missing)."""
    return _one(obj, attrs, "$ne", val)


def query_gt(obj: Any, attrs: str | Sequence[str], val: Any) -> bool:
    """True when the value at ``attrs`` is greater than ``val``."""
    return _one(obj, attrs, "$gt", val)


def query_gte(obj: Any, attrs: str | Sequence[str], val: Any) -> bool:
    """True when the value at ``attrs`` is greater than or equal to ``val``."""
    return _one(obj, attrs, "$gte", val)


def query_lt(obj: Any, attrs: str | Sequence[str], val: Any) -> bool:
    """True when the value at ``attrs`` is less than ``val``."""
    return _one(obj, attrs, "$lt", val)


def query_lte(obj: Any, attrs: str | Sequence[str], val: Any) -> bool:
    """True when the value at ``attrs`` is less than or equal to ``val``."""
    return _one(obj, attrs, "$lte", val)


def query_in(obj: Any, attrs: str | Sequence[str], choices: Sequence[Any]) -> bool:
    """True when the value at ``attrs`` is one of ``choices``."""
    return _one(obj, attrs, "$in", list(choices))


def query_nin(obj: Any, attrs: str | Sequence[str], choices: Sequence[Any]) -> bool:
    """True when the value at ``attrs`` is none of ``choices`` (or is missing)."""
    return _one(obj, attrs, "$nin", list(choices))


def query_exists(obj: Any, attrs: str | Sequence[str], exists: bool = True) -> bool:
    """True when ``attrs`` is present (``exists=True``) or absent (``exists=False``)."""
    return _one(obj, attrs, "$exists", exists)


def query_regex(obj: Any, attrs: str | Sequence[str], pattern: str) -> bool:
    """True when the string at ``attrs`` matches the RE2 ``pattern`` somewhere."""
    return _one(obj, attrs, "$regex", pattern)
