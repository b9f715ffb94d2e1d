"""Read commands never create a store: a URI naming none is an error (exit 2), nothing written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from track.persistence import get_protocol
from track.structure import Trial

#: every read command, with the arguments it needs besides --store
READ_COMMANDS = [
    ["ls"],
    ["show", "abc123_0"],
    ["compare", "abc123_0", "def456_0"],
    ["export"],
    ["export", "--summary", "-o", "out.csv"],
    ["ui", "--port", "0"],
]
IDS = [" ".join(c) for c in READ_COMMANDS]


def track(*args: str, cwd: Path, store: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m track.cli ARGS`` in ``cwd`` (with ``--store`` when given), bounded."""
    extra = ["--store", store] if store is not None else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACK_")}
    return subprocess.run(
        [sys.executable, "-m", "track.cli", *args, *extra],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit code 2 and one line on stderr holding ``message``, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", READ_COMMANDS, ids=IDS)
def test_read_in_an_empty_folder_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    """With the default store (sqlite:///track.db) an empty folder stays empty."""
    result = track(*command, cwd=tmp_path)
    assert_refused(result, "no store at 'track.db' (from sqlite:///track.db)")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "store", ["sqlite:///runs.db", "file://runs.json", "pickled://runs.pkl", "sqlite:///sub/r.db"]
)
@pytest.mark.parametrize("command", READ_COMMANDS, ids=IDS)
def test_read_of_a_missing_store_creates_nothing(
    tmp_path: Path, command: list[str], store: str
) -> None:
    """A --store naming a file that does not exist is refused, for every file-like scheme."""
    assert_refused(track(*command, cwd=tmp_path, store=store), "no store at")
    assert os.listdir(tmp_path) == []


def test_empty_and_foreign_files_are_refused_untouched(tmp_path: Path) -> None:
    """An empty file, a non-SQLite file and an SQLite database of another program stay as they were."""
    (tmp_path / "empty.db").write_bytes(b"")
    (tmp_path / "text.db").write_text("not a database\n" * 10)
    for mode in ("delete", "wal"):
        conn = sqlite3.connect(tmp_path / f"{mode}.db")
        conn.execute(f"PRAGMA journal_mode={mode}")
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.commit()
        conn.close()
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cases = {
        "empty.db": "is an empty file, not a track store",
        "text.db": "is not an SQLite database",
        "delete.db": "is an SQLite database holding no track store",
        "wal.db": "is an SQLite database holding no track store",
    }
    for name, message in cases.items():
        assert_refused(track("ls", cwd=tmp_path, store=f"sqlite:///{name}"), message)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files


def test_reading_an_existing_sqlite_store_still_works(tmp_path: Path) -> None:
    """A real store is read as before, and reading it leaves no file behind."""
    store = get_protocol(f"sqlite:///{tmp_path / 'runs.db'}")
    store.new_trial(Trial(name="kept", parameters={"a": 1}))
    store.close()
    listing = sorted(os.listdir(tmp_path))
    result = track("ls", cwd=tmp_path, store="sqlite:///runs.db")
    assert result.returncode == 0, result.stderr
    assert "kept" in result.stdout
    assert sorted(os.listdir(tmp_path)) == listing


def _schema_exists(base: str, schema: str) -> bool:
    import psycopg

    with psycopg.connect(base) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    return found is not None


def _tables(base: str, schema: str) -> list[str]:
    import psycopg

    with psycopg.connect(base) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=IDS)
def test_read_of_a_missing_postgres_schema_creates_nothing(
    tmp_path: Path, fresh_postgres, command: list[str]
) -> None:
    """A PostgreSQL schema that does not exist is refused and is still missing afterwards."""
    with fresh_postgres() as uri:
        base, _, schema = uri.partition("?schema=")
        assert not _schema_exists(base, schema)
        result = track(*command, cwd=tmp_path, store=uri)
        assert_refused(result, f"no track store in database 'test', schema '{schema}'")
        assert not _schema_exists(base, schema)
    assert os.listdir(tmp_path) == []


def test_read_of_an_empty_postgres_schema_creates_no_table(fresh_postgres) -> None:
    """A PostgreSQL schema without track's tables is refused, and no table is created in it."""
    import psycopg
    from psycopg import sql

    with fresh_postgres() as uri:
        base, _, query = uri.partition("?schema=")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(query)))
        assert_refused(track("ls", cwd=Path.cwd(), store=uri), "no track store in database")
        assert _tables(base, query) == []
        store = get_protocol(uri)
        store.new_trial(Trial(name="central"))
        store.close()
        result = track("ls", cwd=Path.cwd(), store=uri)
        assert result.returncode == 0 and "central" in result.stdout, result.stderr
