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


def test_a_version_1_database_keeps_its_applied_batches(tmp_path: Path) -> None:
    """Migration 2 turns each writer's last seq into the range [0, last]: old batches stay once."""
    import sqlite3

    from track.persistence.protocol import TrialBatch
    from track.persistence.sql import SQLProtocol
    from track.structure import Project, Trial

    path = tmp_path / "v1.db"
    dialect = make_dialect(parse_uri(f"sqlite:///{path}"))
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in migration_statements(dialect, 1):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        conn.execute("INSERT INTO writers (writer, last_seq) VALUES ('w', 7)")
    store = SQLProtocol(f"sqlite:///{path}")
    store.new_project(Project(name="p"))
    trial = store.new_trial(Trial(name="t", project_id="p"))
    point = [("loss", 0, 1.0, 1.0)]
    assert store.log_trial_batch(trial, TrialBatch(writer="w", seq=5, metrics=point)) is False
    assert store.log_trial_batch(trial, TrialBatch(writer="w", seq=8, metrics=point)) is True
    store.close()
    with sqlite3.connect(path) as conn:
        assert (
            conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
        )
        assert conn.execute("SELECT * FROM applied").fetchall() == [("w", 0, 8)]
