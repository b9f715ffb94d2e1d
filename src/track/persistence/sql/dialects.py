"""What differs between SQLite, PostgreSQL and CockroachDB: connections, types, JSON, retries.

The store (:mod:`track.persistence.sql`) writes its statements once with ``?`` placeholders
and asks its dialect for the few pieces that differ. Every value travels as a bound parameter;
the only text a dialect splices into SQL is its own constants.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from track.errors import ConfigurationError, UnknownName
from track.persistence.utils import URI
from track.query import regex_search

__all__ = ["Dialect", "decode_json", "encode_json", "make_dialect"]

NAN = float("nan")
_NONFINITE = {"nan": NAN, "inf": math.inf, "-inf": -math.inf}
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _tag(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if isinstance(value, dict):
        return {k: _tag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    return value


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and value.get("$float") in _NONFINITE:
            return _NONFINITE[value["$float"]]
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


def encode_json(value: Any) -> str:
    """JSON text a database accepts: NaN and infinities become ``{"$float": "nan"}`` objects."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_tag(value), ensure_ascii=False, allow_nan=False)


def decode_json(text: str | bytes | None) -> Any:
    """The inverse of :func:`encode_json`."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value = json.loads(text)
    return _untag(value) if '"$float"' in text else value


def _regexp(pattern: str, value: Any) -> bool:
    """SQLite's ``track_regexp``: ``$regex`` on RE2 (linear time), each pattern compiled once."""
    return regex_search(pattern, value)


_MISSING = object()


def _walk(text: str | None, keys: str) -> Any:
    value: Any = decode_json(text) if text is not None else _MISSING
    for key in json.loads(keys):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _json_type(text: str | None, keys: str) -> str | None:
    """``json_type`` for a path given as a JSON list of keys."""
    value = _walk(text, keys)
    if value is _MISSING:
        return None
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    names = {int: "integer", float: "real", str: "text", list: "array", dict: "object"}
    return names[type(value)]


def _json_extract(text: str | None, keys: str) -> Any:
    """``json_extract`` for a path given as a JSON list of keys."""
    value = _walk(text, keys)
    if value is _MISSING or value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return int(value) if isinstance(value, bool) else value


class Dialect:
    """SQLite: one file, WAL journal, busy timeout, ``BEGIN IMMEDIATE`` for writes."""

    name = "sqlite"
    id_pk = "INTEGER PRIMARY KEY"
    bigint = "INTEGER"
    real = "REAL"
    json_type = "TEXT"
    #: untyped columns keep int, float and str steps (and int or float values) as given
    step_columns: tuple[str, ...] = ("step",)
    step_ddl = "step"
    last_step_ddl = "last_step"
    value_ddl = "value"
    table_suffix = " WITHOUT ROWID"
    for_update = ""
    skip_locked = ""
    text_order = ""
    json_param = "?"
    #: a point's value as MIN and MAX should see it (SQLite keeps NaN as NULL, which they skip)
    ordered_value = "value"

    def __init__(self, uri: URI) -> None:
        self.uri = uri
        self.busy_timeout = float(uri.query.get("timeout", "30"))
        self.synchronous = uri.query.get("synchronous", "NORMAL").upper()
        if self.synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(f"sqlite synchronous={self.synchronous!r}: use NORMAL or FULL")
        if uri.address:
            self.path = uri.location
        else:
            self.path = uri.path[1:] if uri.path.startswith("/") else uri.path
        if not self.path:
            raise ConfigurationError(f"{uri.redacted()!r} names no file (use sqlite:///track.db)")

    def connect(self) -> Any:
        """Open the database file in autocommit mode; transactions are explicit."""
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.create_function("track_regexp", 2, _regexp, deterministic=True)
        conn.create_function("track_json_type", 2, _json_type, deterministic=True)
        conn.create_function("track_json_extract", 2, _json_extract, deterministic=True)
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn

    def prepare(self, sql: str) -> str:
        """The statement in this driver's placeholder style."""
        return sql

    def begin(self, conn: Any, write: bool) -> Any:
        """Start a transaction (writers take the database's write lock at once)."""
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        return conn.cursor()

    def commit(self, conn: Any) -> None:
        """Commit the current transaction."""
        conn.execute("COMMIT")

    def rollback(self, conn: Any) -> None:
        """Roll back the current transaction, if any."""
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def retryable(self, error: BaseException) -> bool:
        """True for errors that a fresh attempt may not meet (a busy or locked database)."""
        text = str(error).lower()
        return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)

    def out_of_range(self, error: BaseException) -> bool:
        """True for a number the database cannot hold (an int beyond 64 bits)."""
        return isinstance(error, OverflowError)

    def schema_lock(self, cur: Any) -> None:
        """Serialize schema creation between processes (``BEGIN IMMEDIATE`` already does)."""

    def load_json(self, value: Any) -> Any:
        """A JSON column's value as Python data."""
        return decode_json(value)

    def load_json_rows(self, rows: list[tuple[Any, ...]]) -> list[list[Any]]:
        """Many rows of JSON columns decoded at once: one parse instead of one per value."""
        text = ",".join(
            "[" + ",".join("null" if v is None else v for v in row) + "]" for row in rows
        )
        decoded: list[list[Any]] = decode_json(f"[{text}]")
        return decoded

    def step_params(self, step: Any) -> tuple[Any, ...]:
        """A step as the values of :attr:`step_columns`."""
        return (step,)

    def fetch_binary(self, cur: Any, sql: str, params: Sequence[Any]) -> list[Any]:
        """Every row of a query whose rows carry blobs."""
        cur.execute(sql, params)
        rows: list[Any] = cur.fetchall()
        return rows

    def reader(self, conn: Any) -> Any:
        """A cursor that reads a large result a page at a time (``fetchmany``)."""
        return conn.cursor()

    def decode_points(self, rows: list[Any]) -> list[list[Any]]:
        """``[step, value, time]`` lists from (step..., value, time) rows (NULL value: NaN)."""
        return [[s, NAN if v is None else v, t] for s, v, t in rows]

    def decode_step(self, values: tuple[Any, ...]) -> Any:
        """A step from the values of :attr:`step_columns`."""
        return values[0]

    # ---- JSON paths, as (sql, params) fragments --------------------------------------

    def json_path(self, keys: tuple[str, ...]) -> Any:
        """The path parameter naming ``keys`` inside a JSON column.

        SQLite's JSON paths cannot quote a key containing ``"``; such paths are passed as a
        JSON list of keys to slower Python functions instead.
        """
        if any('"' in key for key in keys):
            return json.dumps(list(keys))
        return "$" + "".join(f'."{key}"' for key in keys)

    def json_value(self, column: str, path: Any = "$") -> str:
        """SQL for the value at a path parameter (``?``) in ``column``."""
        function = "track_json_extract" if path.startswith("[") else "json_extract"
        return f"{function}({column}, ?)"

    def json_text(self, column: str, path: Any = "$") -> str:
        """SQL for the string at a path parameter in ``column``."""
        return self.json_value(column, path)

    def json_kind(self, column: str, path: Any = "$") -> str:
        """SQL for the JSON type at a path parameter in ``column`` (NULL when missing)."""
        function = "track_json_type" if path.startswith("[") else "json_type"
        return f"{function}({column}, ?)"

    kinds = {
        "null": ("null",),
        "number": ("integer", "real", "true", "false"),
        "string": ("text",),
        "container": ("object", "array"),
    }

    def json_equal(self, column: str, path: Any, wanted: Any) -> tuple[str, list[Any]]:
        """SQL true when the value at ``path`` equals ``wanted``."""
        kind, value = self.json_kind(column, path), self.json_value(column, path)
        if wanted is None:
            return f"{kind} = 'null'", [path]
        if isinstance(wanted, (bool, int, float)):
            return f"{kind} IN ('integer', 'real', 'true', 'false') AND {value} = ?", [
                path,
                path,
                int(wanted) if isinstance(wanted, bool) else wanted,
            ]
        if isinstance(wanted, str):
            return f"{kind} = 'text' AND {value} = ?", [path, path, wanted]
        if isinstance(wanted, (dict, list, tuple)):
            text = encode_json(list(wanted) if isinstance(wanted, tuple) else wanted)
            return f"{kind} IN ('object', 'array') AND {value} = json(?)", [path, path, text]
        return "FALSE", []

    def json_order(self, column: str, path: Any, op: str, wanted: Any) -> tuple[str, list[Any]]:
        """SQL for ``value op wanted`` where both are numbers or both strings."""
        kind, value = self.json_kind(column, path), self.json_value(column, path)
        if isinstance(wanted, (bool, int, float)):
            kinds = "'integer', 'real', 'true', 'false'"
            return f"{kind} IN ({kinds}) AND {value} {op} ?", [path, path, wanted]
        if isinstance(wanted, str):
            return f"{kind} = 'text' AND {value} {op} ?", [path, path, wanted]
        return "FALSE", []

    def json_string_kind(self) -> str:
        """The JSON type name of strings in :meth:`json_kind`."""
        return "text"

    def regex(self, expression: str, params: list[Any], pattern: str) -> tuple[str, list[Any]]:
        """SQL true when the text ``expression`` matches ``pattern`` (RE2, searched anywhere)."""
        return f"track_regexp(?, {expression})", [pattern, *params]


class PostgresDialect(Dialect):
    """PostgreSQL through psycopg 3: JSONB columns, COPY for points, SKIP LOCKED reservations."""

    name = "postgresql"
    id_pk = "BIGSERIAL PRIMARY KEY"
    bigint = "BIGINT"
    real = "DOUBLE PRECISION"
    json_type = "JSONB"
    step_columns = ("istep", "fstep", "sstep")
    step_ddl = "istep BIGINT, fstep DOUBLE PRECISION, sstep TEXT"
    last_step_ddl = "last_istep BIGINT, last_fstep DOUBLE PRECISION, last_sstep TEXT"
    value_ddl = "value DOUBLE PRECISION"
    table_suffix = ""
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    text_order = ' COLLATE "C"'
    json_param = "CAST(? AS JSONB)"
    #: NaN is the largest float8 to MIN and MAX: read as NULL, which they skip
    ordered_value = "NULLIF(value, 'NaN')"
    default_port = 5432
    #: the ``psycopg.IsolationLevel`` member name; None keeps the server's default
    isolation: str | None = None

    def __init__(self, uri: URI) -> None:
        self.uri = uri
        self.schema = uri.query.get("schema")
        if self.schema is not None and not _SCHEMA_NAME.match(self.schema):
            raise ConfigurationError(
                f"schema={self.schema!r}: a schema name is letters, digits and underscores"
            )
        self.dbname = uri.path.lstrip("/") or None
        self._prepared: dict[str, str] = {}

    def _psycopg(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise ImportError(
                f"{self.uri.scheme}:// stores need psycopg 3: pip install 'track[postgres]'"
            ) from None
        return psycopg

    def connect(self) -> Any:
        """Connect with the URI's credentials; the search path selects ``?schema=``."""
        psycopg = self._psycopg()
        from psycopg.types.json import set_json_loads

        options = {
            "host": self.uri.address or "127.0.0.1",
            "port": self.uri.port or self.default_port,
            "user": self.uri.username,
            "password": self.uri.password,
            "dbname": self.dbname,
            "connect_timeout": int(self.uri.query.get("connect_timeout", "10")),
        }
        if self.schema:
            options["options"] = f"-c search_path={self.schema}"
        conn = psycopg.connect(**{k: v for k, v in options.items() if v is not None})
        if self.isolation is not None:
            conn.isolation_level = getattr(psycopg.IsolationLevel, self.isolation)
        set_json_loads(decode_json, conn)
        return conn

    def prepare(self, sql: str) -> str:
        """``?`` placeholders become psycopg's ``%s``."""
        prepared = self._prepared.get(sql)
        if prepared is None:
            prepared = self._prepared[sql] = sql.replace("?", "%s")
        return prepared

    def begin(self, conn: Any, write: bool) -> Any:
        """psycopg opens the transaction at the first statement."""
        return conn.cursor()

    def commit(self, conn: Any) -> None:
        """Commit the current transaction."""
        conn.commit()

    def rollback(self, conn: Any) -> None:
        """Roll back the current transaction."""
        if not conn.closed:
            conn.rollback()

    def retryable(self, error: BaseException) -> bool:
        """Serialization failures (40001) and deadlocks (40P01) succeed when run again."""
        return getattr(error, "sqlstate", None) in ("40001", "40P01")

    def out_of_range(self, error: BaseException) -> bool:
        """An int Python cannot adapt, or one the server finds out of range (22003)."""
        return isinstance(error, OverflowError) or getattr(error, "sqlstate", None) == "22003"

    def schema_lock(self, cur: Any) -> None:
        """Serialize schema creation between processes and create ``?schema=`` if needed."""
        from psycopg import sql

        cur.execute("SELECT pg_advisory_xact_lock(%s)", (7_215_113_901,))
        if self.schema:
            cur.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )

    def load_json(self, value: Any) -> Any:
        """psycopg already decoded the JSONB value."""
        return value

    def load_json_rows(self, rows: list[tuple[Any, ...]]) -> list[list[Any]]:
        """psycopg already decoded every JSONB value."""
        return [list(row) for row in rows]

    def step_params(self, step: Any) -> tuple[Any, ...]:
        """An int, float or str step in its own typed column."""
        if step is None:
            return (None, None, None)
        if isinstance(step, int):
            return (step, None, None)
        if isinstance(step, float):
            return (None, step, None)
        return (None, None, step)

    def fetch_binary(self, cur: Any, sql: str, params: Sequence[Any]) -> list[Any]:
        """Rows travel in binary: blobs as they are, not hex-encoded text."""
        with cur.connection.cursor(binary=True) as binary:
            binary.execute(sql, params)
            rows: list[Any] = binary.fetchall()
            return rows

    def reader(self, conn: Any) -> Any:
        """A server-side cursor: the result stays on the server until fetched."""
        return conn.cursor(name=f"track_reader_{id(conn)}")

    def decode_points(self, rows: list[Any]) -> list[list[Any]]:
        """``[step, value, time]`` lists from (istep, fstep, sstep, value, time) rows."""
        return [
            [i if i is not None else (f if f is not None else s), v, t] for i, f, s, v, t in rows
        ]

    def decode_step(self, values: tuple[Any, ...]) -> Any:
        """A step from its typed columns."""
        i, f, s = values
        return i if i is not None else (f if f is not None else s)

    # ---- JSON paths ------------------------------------------------------------------

    def json_path(self, keys: tuple[str, ...]) -> Any:
        """A text[] parameter."""
        return list(keys)

    def json_value(self, column: str, path: Any = None) -> str:
        """The JSONB value at a text[] path."""
        return f"({column} #> CAST(? AS TEXT[]))"

    def json_text(self, column: str, path: Any = None) -> str:
        """The value at a text[] path as text."""
        return f"({column} #>> CAST(? AS TEXT[]))"

    def json_kind(self, column: str, path: Any = None) -> str:
        """``jsonb_typeof`` of the value at a path."""
        return f"jsonb_typeof({column} #> CAST(? AS TEXT[]))"

    def json_equal(self, column: str, path: Any, wanted: Any) -> tuple[str, list[Any]]:
        """JSONB equality (numbers compare by value, objects ignore key order)."""
        if not isinstance(wanted, (type(None), bool, int, float, str, dict, list, tuple)):
            return "FALSE", []
        wanted = list(wanted) if isinstance(wanted, tuple) else wanted
        return f"{self.json_value(column)} = CAST(? AS JSONB)", [path, encode_json(wanted)]

    def json_order(self, column: str, path: Any, op: str, wanted: Any) -> tuple[str, list[Any]]:
        """Numbers compare as JSONB numbers, strings by code point."""
        kind = self.json_kind(column)
        if isinstance(wanted, (bool, int, float)):
            sql = f"{kind} = 'number' AND {self.json_value(column)} {op} CAST(? AS JSONB)"
            return sql, [path, path, encode_json(float(wanted))]
        if isinstance(wanted, str):
            sql = f"{kind} = 'string' AND {self.json_text(column)}{self.text_order} {op} ?"
            return sql, [path, path, wanted]
        return "FALSE", []

    def json_string_kind(self) -> str:
        """``jsonb_typeof`` names strings 'string'."""
        return "string"

    def regex(self, expression: str, params: list[Any], pattern: str) -> tuple[str, list[Any]]:
        """POSIX regular expressions (``~``); Python-only syntax is not understood."""
        return f"{expression} ~ ?", [*params, pattern]


class CockroachDialect(PostgresDialect):
    """CockroachDB (PostgreSQL wire protocol): SERIALIZABLE transactions retried on 40001.

    Avoids what CockroachDB lacks or handles differently: advisory locks, ``COPY`` from a
    client, ``SKIP LOCKED`` (plain ``FOR UPDATE`` plus retries instead) and ``COLLATE "C"``
    (its strings already compare by bytes).
    """

    name = "cockroach"
    skip_locked = " FOR UPDATE"
    text_order = ""
    default_port = 26257
    isolation = "SERIALIZABLE"

    def retryable(self, error: BaseException) -> bool:
        """CockroachDB asks clients to retry any transaction that fails with 40001."""
        return getattr(error, "sqlstate", None) in ("40001", "40P01")

    def schema_lock(self, cur: Any) -> None:
        """No advisory locks: concurrent schema creation is retried on 40001 instead."""
        from psycopg import sql

        if self.schema:
            cur.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )


def make_dialect(uri: URI) -> Dialect:
    """The dialect for a URI scheme."""
    if uri.scheme == "sqlite":
        return Dialect(uri)
    if uri.scheme in ("postgresql", "postgres"):
        return PostgresDialect(uri)
    if uri.scheme == "cockroach":
        return CockroachDialect(uri)
    raise UnknownName(f"no SQL dialect for scheme {uri.scheme!r}")
