"""The query language (:mod:`track.query`) compiled to a SQL ``WHERE`` clause.

Each condition becomes a boolean expression that is never NULL, so that ``$ne`` and ``$nin``
can negate ``$eq`` and ``$in`` exactly as :func:`track.query.matches` does (a missing value is
"not equal"). Field names select columns from a fixed table; dotted paths into JSON columns,
compared values and regular expressions are bound parameters, never SQL text.

Status conditions see the *effective* status: a Running trial whose ``stale_after`` time has
passed reads as Interrupted (the liveness rule of :mod:`track.liveness`).

Metric conditions (``metrics.<name>.<summary>``) are correlated ``EXISTS`` sub-queries on the
``series`` row of that name (the ``UNIQUE (trial_id, name)`` index finds it), testing the summary
it keeps: ``last_value``, ``min_value``, ``max_value``, ``count`` or the last step. NaN compares
false to everything, as in Python: SQLite stores it as NULL, PostgreSQL's NaN is read as NULL.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

from track.persistence.sql.dialects import Dialect
from track.query import Condition, Logical, Node
from track.serialization import status_from_doc
from track.structure import Status

__all__ = ["GROUP_FIELDS", "PROJECT_FIELDS", "TRIAL_FIELDS", "Fields", "compile_where"]

Fragment = tuple[str, list[Any]]
ORDER_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
FALSE: Fragment = ("FALSE", [])
TRUE: Fragment = ("TRUE", [])


@dataclass(frozen=True)
class Fields:
    """What a query may name on one table: typed columns, JSON columns, special fields, and
    whether its rows have metric series (``metrics.<name>.<summary>``)."""

    alias: str
    text: frozenset[str]
    integer: frozenset[str] = frozenset()
    json: frozenset[str] = frozenset()
    special: frozenset[str] = field(default_factory=frozenset)
    metrics: bool = False


TRIAL_FIELDS = Fields(
    alias="t",
    text=frozenset({"uid", "hash", "name", "description", "version", "project_id"}),
    integer=frozenset({"revision"}),
    json=frozenset({"parameters", "metadata", "tags", "chronos", "errors"}),
    special=frozenset({"status", "group_id", "groups"}),
    metrics=True,
)
GROUP_FIELDS = Fields(
    alias="g",
    text=frozenset({"uid", "name", "description", "project_id"}),
    json=frozenset({"metadata", "tags"}),
)
PROJECT_FIELDS = Fields(
    alias="p", text=frozenset({"uid", "name", "description"}), json=frozenset({"metadata", "tags"})
)

_RUNNING = Status.Running.value
_INTERRUPTED = Status.Interrupted


def effective_status(alias: str, now: float) -> tuple[Fragment, Fragment]:
    """(name, value) expressions of a trial's status as readers see it at ``now``."""
    stale = f"{alias}.status_value = {_RUNNING} AND {alias}.stale_after < ?"
    name = (
        f"(CASE WHEN {stale} THEN '{_INTERRUPTED.name}' ELSE {alias}.status_name END)",
        [now],
    )
    value = (
        f"(CASE WHEN {stale} THEN {_INTERRUPTED.value} ELSE {alias}.status_value END)",
        [now],
    )
    return name, value


def _any(fragments: list[Fragment]) -> Fragment:
    if not fragments:
        return FALSE
    return " OR ".join(f"({sql})" for sql, _ in fragments), [p for _, ps in fragments for p in ps]


def _all(fragments: list[Fragment]) -> Fragment:
    if not fragments:
        return TRUE
    return " AND ".join(f"({sql})" for sql, _ in fragments), [p for _, ps in fragments for p in ps]


def _strict(fragment: Fragment) -> Fragment:
    return f"COALESCE(({fragment[0]}), FALSE)", fragment[1]


def _not(fragment: Fragment) -> Fragment:
    return f"NOT ({fragment[0]})", fragment[1]


class _Compiler:
    def __init__(self, dialect: Dialect, fields: Fields, now: float) -> None:
        self.dialect = dialect
        self.fields = fields
        self.now = now

    def nodes(self, nodes: tuple[Node, ...]) -> Fragment:
        return _all([self.node(n) for n in nodes])

    def node(self, node: Node) -> Fragment:
        if isinstance(node, Logical):
            branches = [self.nodes(branch) for branch in node.branches]
            return _all(branches) if node.op == "$and" else _any(branches)
        return self.condition(node)

    def condition(self, cond: Condition) -> Fragment:
        head, rest = cond.path[0], cond.path[1:]
        fields, alias = self.fields, self.fields.alias
        if head == "metrics":
            return self.metric(cond) if fields.metrics else self.generic(cond, _MissingTests())
        if head in fields.special and not rest:
            if head == "status":
                return self.generic(cond, _StatusTests(self.dialect, alias, self.now))
            return self.groups(cond)
        if head in fields.json:
            path = self.dialect.json_path(rest)
            return self.generic(cond, _JsonTests(self.dialect, f"{alias}.{head}", path))
        if (head in fields.text or head in fields.integer) and not rest:
            tests = _ColumnTests(self.dialect, f"{alias}.{head}", head in fields.integer)
            return self.generic(cond, tests)
        return self.generic(cond, _MissingTests())

    def generic(self, cond: Condition, tests: Any) -> Fragment:
        op, wanted = cond.op, cond.value
        if op == "$exists":
            return tests.exists() if wanted else _not(tests.exists())
        if op == "$eq":
            return _strict(tests.equal(wanted))
        if op == "$ne":
            return _not(_strict(tests.equal(wanted)))
        if op == "$in":
            return _any([_strict(tests.equal(w)) for w in wanted])
        if op == "$nin":
            return _not(_any([_strict(tests.equal(w)) for w in wanted]))
        if op == "$regex":
            return _strict(tests.regex(wanted))
        return _strict(tests.order(ORDER_OPS[op], wanted))

    def groups(self, cond: Condition) -> Fragment:
        """``group_id`` matches any group of the trial (``$ne``/``$nin``: none of them)."""
        member: Fragment = (
            f"SELECT 1 FROM membership m WHERE m.trial_id = {self.fields.alias}.id",
            [],
        )
        return self.related(member, cond, _ColumnTests(self.dialect, "m.group_uid", False))

    def metric(self, cond: Condition) -> Fragment:
        """``metrics.<name>.<summary>``: a test of the trial's series row of that name; a trial
        without it matches only ``$ne``, ``$nin`` and ``$exists: false``."""
        _, name, summary = cond.path
        series = (
            f"SELECT 1 FROM series ms WHERE ms.trial_id = {self.fields.alias}.id AND ms.name = ?",
            [name],
        )
        return self.related(series, cond, _SummaryTests(self.dialect, summary))

    def related(self, rows: Fragment, cond: Condition, tests: Any) -> Fragment:
        """``cond`` holding for one of the rows a sub-query selects (``$ne``/``$nin``: none)."""
        op, wanted = cond.op, cond.value
        if op == "$exists":
            sql = f"EXISTS ({rows[0]})"
            return (sql, rows[1]) if wanted else (f"NOT {sql}", rows[1])
        if op in ("$ne", "$nin"):
            values = [wanted] if op == "$ne" else list(wanted)
            inner = _any([_strict(tests.equal(w)) for w in values])
            return f"NOT EXISTS ({rows[0]} AND ({inner[0]}))", [*rows[1], *inner[1]]
        inner = self.generic(cond, tests)
        return f"EXISTS ({rows[0]} AND ({inner[0]}))", [*rows[1], *inner[1]]


class _MissingTests:
    """A field no row has: only ``$ne``, ``$nin`` and ``$exists: false`` hold."""

    def exists(self) -> Fragment:
        return FALSE

    def equal(self, wanted: Any) -> Fragment:
        return FALSE

    def regex(self, pattern: str) -> Fragment:
        return FALSE

    def order(self, op: str, wanted: Any) -> Fragment:
        return FALSE


class _ColumnTests:
    """A typed column (text or integer) that every row has (possibly NULL)."""

    def __init__(self, dialect: Dialect, column: str, integer: bool) -> None:
        self.dialect = dialect
        self.column = column
        self.integer = integer

    def _fits(self, wanted: Any) -> bool:
        if self.integer:
            return isinstance(wanted, (int, float)) and not isinstance(wanted, bool)
        return isinstance(wanted, str)

    def exists(self) -> Fragment:
        return TRUE

    def equal(self, wanted: Any) -> Fragment:
        if wanted is None:
            return f"{self.column} IS NULL", []
        return (f"{self.column} = ?", [wanted]) if self._fits(wanted) else FALSE

    def regex(self, pattern: str) -> Fragment:
        if self.integer:
            return FALSE
        return self.dialect.regex(self.column, [], pattern)

    def order(self, op: str, wanted: Any) -> Fragment:
        if not self._fits(wanted):
            return FALSE
        collate = "" if self.integer else self.dialect.text_order
        return f"{self.column}{collate} {op} ?", [wanted]


class _JsonTests:
    """A path inside a JSON column; absent keys are missing, JSON null is a value."""

    def __init__(self, dialect: Dialect, column: str, path: Any) -> None:
        self.dialect = dialect
        self.column = column
        self.path = path

    def exists(self) -> Fragment:
        return f"{self.dialect.json_kind(self.column, self.path)} IS NOT NULL", [self.path]

    def equal(self, wanted: Any) -> Fragment:
        return self.dialect.json_equal(self.column, self.path, wanted)

    def regex(self, pattern: str) -> Fragment:
        d = self.dialect
        sql, params = d.regex(d.json_text(self.column, self.path), [self.path], pattern)
        kind = d.json_kind(self.column, self.path)
        return f"{kind} = '{d.json_string_kind()}' AND {sql}", [
            self.path,
            *params,
        ]

    def order(self, op: str, wanted: Any) -> Fragment:
        return self.dialect.json_order(self.column, self.path, op, wanted)


def _number(wanted: Any) -> int | float | None:
    """``wanted`` as a number a driver binds (bools as 0/1, ints beyond 64 bits as floats);
    None for NaN and for anything that is not a real number (no summary equals or orders it)."""
    if isinstance(wanted, numbers.Integral):
        number = int(wanted)
        return number if -(2**63) <= number < 2**63 else float(number)
    if isinstance(wanted, numbers.Real):
        real = float(wanted)
        return None if real != real else real
    return None


class _SummaryTests:
    """One summary column of a ``series`` row (alias ``ms``): a number, NaN read as NULL (never
    equal, never ordered), or for ``step`` the last step (an int, float, str or NULL)."""

    def __init__(self, dialect: Dialect, summary: str) -> None:
        self.dialect = dialect
        self.summary = summary
        self.sqlite = dialect.name == "sqlite"
        column = {"last": "last_value", "min": "min_value", "max": "max_value"}.get(summary)
        self.number = f"ms.{column or 'count'}"
        if column and not self.sqlite:
            self.number = f"NULLIF({self.number}, 'NaN')"

    def exists(self) -> Fragment:
        return TRUE

    def equal(self, wanted: Any) -> Fragment:
        if self.summary != "step":
            return self.order("=", wanted)
        if wanted is None:
            columns = [f"ms.last_{c}" for c in self.dialect.step_columns]
            return " AND ".join(f"{c} IS NULL" for c in columns), []
        return self.step("=", wanted)

    def regex(self, pattern: str) -> Fragment:
        return FALSE

    def order(self, op: str, wanted: Any) -> Fragment:
        if self.summary == "step":
            return self.step(op, wanted)
        number = _number(wanted)
        return FALSE if number is None else (f"{self.number} {op} ?", [number])

    def step(self, op: str, wanted: Any) -> Fragment:
        """The last step ``op wanted``: numbers with numbers, strings with strings."""
        if isinstance(wanted, str):
            if self.sqlite:
                return f"typeof(ms.last_step) = 'text' AND ms.last_step {op} ?", [wanted]
            return f"ms.last_sstep{self.dialect.text_order} {op} ?", [wanted]
        number = _number(wanted)
        if number is None:
            return FALSE
        if self.sqlite:
            numeric = "typeof(ms.last_step) IN ('integer', 'real')"
            return f"{numeric} AND ms.last_step {op} ?", [number]
        sql = f"ms.last_istep {op} ? OR NULLIF(ms.last_fstep, 'NaN') {op} ?"
        return sql, [number, number]


class _StatusTests:
    """A trial's effective status, matched by name (any case), value or ``{name, value}``."""

    def __init__(self, dialect: Dialect, alias: str, now: float) -> None:
        self.dialect = dialect
        self.name, self.value = effective_status(alias, now)

    def exists(self) -> Fragment:
        return TRUE

    def equal(self, wanted: Any) -> Fragment:
        name, value = self.name, self.value
        if isinstance(wanted, str):
            return f"LOWER({name[0]}) = ?", [*name[1], wanted.lower()]
        if isinstance(wanted, int) and not isinstance(wanted, bool):
            return f"{value[0]} = ?", [*value[1], wanted]
        if isinstance(wanted, dict):
            wanted = status_from_doc(wanted)
            return f"{name[0]} = ? AND {value[0]} = ?", [
                *name[1],
                wanted.name,
                *value[1],
                wanted.value,
            ]
        return FALSE

    def regex(self, pattern: str) -> Fragment:
        return self.dialect.regex(self.name[0], list(self.name[1]), pattern)

    def order(self, op: str, wanted: Any) -> Fragment:
        if isinstance(wanted, dict):
            wanted = wanted.get("value")
        if not isinstance(wanted, (int, float)) or isinstance(wanted, bool):
            return FALSE
        return f"{self.value[0]} {op} ?", [*self.value[1], wanted]


def compile_where(
    dialect: Dialect, fields: Fields, conditions: tuple[Node, ...], now: float
) -> Fragment:
    """A ``WHERE`` expression and its parameters for parsed ``conditions`` on ``fields``."""
    return _Compiler(dialect, fields, now).nodes(conditions)
