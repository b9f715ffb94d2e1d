"""Opening a store without creating one: what read-only tools (``track ls``, ``show``, ...) need.

A SQL store opened by a writer creates its tables (and its SQLite file, or its PostgreSQL
schema). A reader must not: reading an empty folder would leave a fresh 72 KiB ``track.db``
behind, and reading a mistyped PostgreSQL schema would create it. ``SQLProtocol(uri,
create=False)`` calls these checks and raises :class:`StoreNotFound` instead.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from track.errors import NotFound, UnusableStore

__all__ = ["StoreNotFound", "require_schema", "require_sqlite_file"]

#: the first bytes of every SQLite 3 database file
SQLITE_HEADER = b"SQLite format 3\x00"


class StoreNotFound(NotFound, UnusableStore):
    """The URI names no track store (a missing or empty file, a database without track tables).

    A :class:`~track.errors.NotFound`, and an :class:`~track.errors.UnusableStore` (so a
    ``ValueError``, as it was before track's hierarchy).
    """


def require_sqlite_file(path: str) -> None:
    """Refuse an SQLite path that holds no track store, without creating or changing any file.

    Checked before connecting, because connecting creates a missing file and switches an
    existing one to WAL mode. A WAL-mode file is checked by :func:`require_schema` once
    connected (track's own stores are WAL files; connecting changes nothing in them).
    """
    if path == ":memory:" or not path:
        raise StoreNotFound("an in-memory SQLite database holds no store to read")
    if not os.path.exists(path):
        raise StoreNotFound(f"no store at {path!r}")
    if os.path.isdir(path):
        raise StoreNotFound(f"{path!r} is a folder, not an SQLite store")
    with open(path, "rb") as file:
        header = file.read(100)
    if not header:
        raise StoreNotFound(f"{path!r} is an empty file, not a track store")
    if not header.startswith(SQLITE_HEADER):
        raise StoreNotFound(f"{path!r} is not an SQLite database")
    if len(header) > 18 and header[18] == 2:
        return
    # A rollback-journal database: a read-only connection creates no file next to it.
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            found = _has_marker(conn.cursor(), "sqlite")
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise StoreNotFound(f"{path!r} cannot be read as an SQLite database: {error}") from None
    if not found:
        raise StoreNotFound(f"{path!r} is an SQLite database holding no track store")


def require_schema(dialect: Any, cur: Any) -> None:
    """Refuse (:class:`StoreNotFound`) a connected database or schema without track's tables.

    Runs inside the opening transaction, before anything is created; ``cur`` is the driver's
    cursor. On PostgreSQL and CockroachDB the tables are looked up in the schema the
    connection uses (``?schema=``, else the search path), which is NULL when it does not exist.
    """
    if _has_marker(cur, dialect.name):
        return
    if dialect.name == "sqlite":
        raise StoreNotFound(f"{dialect.path!r} is an SQLite database holding no track store")
    where = f"database {dialect.dbname!r}" if dialect.dbname else "the default database"
    if dialect.schema:
        where += f", schema {dialect.schema!r}"
    raise StoreNotFound(f"no track store in {where}")


def _has_marker(cur: Any, dialect_name: str) -> bool:
    """True when the database holds ``schema_version``, the table every track store has."""
    if dialect_name == "sqlite":
        cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    else:
        cur.execute(
            "SELECT 1 FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_name = 'schema_version'"
        )
    return cur.fetchone() is not None
