"""The SQL schema is frozen: every migration's statements, per dialect, match a checked-in snapshot.

A shipped migration must never change (databases in the field already ran it); a new one is
appended. To add one, append it to ``MIGRATIONS`` and regenerate the snapshots with
``UPDATE_SNAPSHOTS=1 python -m pytest tests/persistence/test_sql_schema.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from track.persistence.sql.dialects import make_dialect
from track.persistence.sql.schema import SCHEMA_VERSION, migration_statements
from track.persistence.utils import parse_uri

SNAPSHOTS = Path(__file__).parent / "snapshots"
DIALECTS = {
    "sqlite": "sqlite:///snapshot.db",
    "postgresql": "postgresql://user@host/db",
    "cockroach": "cockroach://user@host/db",
}


def schema_text(name: str) -> str:
    """Every migration of one dialect, numbered, one statement per line."""
    dialect = make_dialect(parse_uri(DIALECTS[name]))
    lines = []
    for version in range(1, SCHEMA_VERSION + 1):
        lines.append(f"-- migration {version}")
        lines.extend(f"{statement};" for statement in migration_statements(dialect, version))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", list(DIALECTS))
def test_schema_matches_snapshot(name: str) -> None:
    """The statements each dialect runs are exactly the snapshot's (migrations are append-only)."""
    path = SNAPSHOTS / f"schema-{name}.sql"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(schema_text(name))
    assert schema_text(name) == path.read_text()
