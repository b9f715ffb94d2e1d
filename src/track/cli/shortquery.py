"""The query language from the command line: JSON, or a short form of ``PATH OP VALUE`` terms.

``parameters.lr>0.01 status=completed`` means ``{"parameters.lr": {"$gt": 0.01}, "status":
"completed"}``. Operators: ``= == != > >= < <= ~`` (``~`` is a regular expression). A value
is read as JSON when it parses (``0.01``, ``true``, ``null``, ``"a b"``) and as text otherwise;
``status=new,running`` lists values (``$in``; with ``!=``, ``$nin``). Terms all must hold.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from track.query import QueryError, parse

__all__ = ["parse_where"]

_TERM = re.compile(r"^(?P<path>[A-Za-z_][\w.\-]*)\s*(?P<op>==|!=|>=|<=|=|>|<|~)(?P<value>.*)$")
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
