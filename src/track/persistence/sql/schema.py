"""The SQL schema, versioned: a list of forward migrations and the code that applies them.

A store opened on an empty database creates every table; one opened on an older schema applies
the migrations it lacks, in one transaction, while other processes wait (``BEGIN IMMEDIATE``
on SQLite, an advisory lock on PostgreSQL, a retried SERIALIZABLE transaction on CockroachDB).
To change the schema, append a migration: never edit one that has shipped. A step of a migration
is a statement or a :class:`PythonStep` (a data conversion SQL cannot express).

Tables (``{...}`` are the dialect's types)::

    schema_version(version)
    projects(id, uid, name, description, metadata, tags)
    trial_group(id, uid, name, description, metadata, project_id, tags)
    trials(id, uid, hash, revision, name, description, version, project_id, group_id,
           status_name, status_value, stale_after, parameters, metadata, tags, chronos, errors)
    membership(trial_id, group_uid)             -- every group a trial belongs to
    series(id, trial_id, name, count, last_step..., last_value, last_time, min_value, max_value,
           open_seq, open_chunks)               -- where the series' open (unfull) chunks start
    chunks(series_id, first_seq, count, low_step, high_step, first_time, last_time,
           min_value, max_value, min_at, max_at, last_value, data)  -- packed points (sql/series.py)
    applied(writer, first_seq, last_seq)        -- exactly-once batches: ranges of applied seqs
    requests(id, kind, uid)                     -- exactly-once reservations (fetch_and_update_once)
    artifacts(trial_id, name, size, sha256, time, media_type)  -- each trial's artifact index
    artifact_chunks(sha256, chunk, data)        -- artifact bytes on database servers (1 MiB rows)

``trials.stale_after`` is ``metadata.heartbeat + STALE_AFTER_INTERVALS * heartbeat_interval``,
kept in a column so that queries apply the liveness rule without parsing JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from track.errors import UnusableStore
from track.persistence.sql.dialects import Dialect
from track.persistence.sql.series import points_to_chunks

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "NewerSchema",
    "PythonStep",
    "ensure_schema",
    "migration_statements",
]


class NewerSchema(UnusableStore, RuntimeError):
    """The database was written by a newer track (an UnusableStore, still the RuntimeError
    it was before track's hierarchy)."""


@dataclass(frozen=True)
class PythonStep:
    """A migration step SQL cannot express, run with the dialect and the migration's cursor."""

    run: Callable[[Dialect, Any], None]

    def __str__(self) -> str:
        return f"-- python: {self.run.__module__}.{self.run.__qualname__}"


MIGRATIONS: list[list[str | PythonStep]] = [
    # 1: the initial schema
    [
        "CREATE TABLE projects (id {id_pk}, uid TEXT NOT NULL UNIQUE, name TEXT,"
        " description TEXT, metadata {json})",
        "CREATE TABLE trial_group (id {id_pk}, uid TEXT NOT NULL UNIQUE, name TEXT,"
        " description TEXT, metadata {json}, project_id TEXT)",
        "CREATE INDEX trial_group_project ON trial_group (project_id)",
        "CREATE TABLE trials (id {id_pk}, uid TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,"
        " revision {bigint} NOT NULL, name TEXT, description TEXT, version TEXT,"
        " project_id TEXT, group_id TEXT, status_name TEXT, status_value {bigint},"
        " stale_after {real}, parameters {json}, metadata {json}, tags {json},"
        " chronos {json}, errors {json})",
        "CREATE INDEX trials_hash ON trials (hash, revision)",
        "CREATE INDEX trials_project ON trials (project_id)",
        "CREATE INDEX trials_status ON trials (status_value)",
        "CREATE TABLE membership (trial_id {bigint} NOT NULL, group_uid TEXT NOT NULL,"
        " PRIMARY KEY (trial_id, group_uid)){suffix}",
        "CREATE INDEX membership_group ON membership (group_uid, trial_id)",
        "CREATE TABLE series (id {id_pk}, trial_id {bigint} NOT NULL, name TEXT NOT NULL,"
        " count {bigint} NOT NULL, {last_step}, last_value {real_or_any},"
        " last_time {real}, UNIQUE (trial_id, name))",
        "CREATE TABLE points (series_id {bigint} NOT NULL, seq {bigint} NOT NULL, {step},"
        " {value}, time {real}, PRIMARY KEY (series_id, seq)){suffix}",
        "CREATE TABLE writers (writer TEXT PRIMARY KEY, last_seq {bigint} NOT NULL){suffix}",
    ],
    # 2: applied batches as ranges of seqs (a refused older batch can still be replayed),
    #    reservations recorded by request id
    [
        "CREATE TABLE applied (writer TEXT NOT NULL, first_seq {bigint} NOT NULL,"
        " last_seq {bigint} NOT NULL, PRIMARY KEY (writer, first_seq)){suffix}",
        "INSERT INTO applied (writer, first_seq, last_seq) SELECT writer, 0, last_seq FROM writers",
        "DROP TABLE writers",
        "CREATE TABLE requests (id TEXT PRIMARY KEY, kind TEXT NOT NULL, uid TEXT){suffix}",
    ],
    # 3: project and group tags (a project's tags are inherited by its groups and trials)
    [
        "ALTER TABLE projects ADD COLUMN tags {json}",
        "ALTER TABLE trial_group ADD COLUMN tags {json}",
    ],
    # 4: each series' min and max (NaN left out), kept on write so that a table of trials
    #    (track.frames.runs) never aggregates the points table
    [
        "ALTER TABLE series ADD COLUMN min_value {real_or_any}",
        "ALTER TABLE series ADD COLUMN max_value {real_or_any}",
        "UPDATE series SET min_value = (SELECT MIN({ordered_value}) FROM points"
        " WHERE points.series_id = series.id), max_value = (SELECT MAX({ordered_value})"
        " FROM points WHERE points.series_id = series.id)",
    ],
    # 5: artifacts: each trial's index, and the bytes as 1 MiB chunks keyed by content digest
    #    (used by database servers; SQLite keeps the bytes in a folder beside its file)
    [
        "CREATE TABLE artifacts (trial_id {bigint} NOT NULL, name TEXT NOT NULL,"
        " size {bigint} NOT NULL, sha256 TEXT NOT NULL, time {real} NOT NULL,"
        " media_type TEXT NOT NULL, PRIMARY KEY (trial_id, name)){suffix}",
        "CREATE INDEX artifacts_sha256 ON artifacts (sha256)",
        "CREATE TABLE artifact_chunks (sha256 TEXT NOT NULL, chunk {bigint} NOT NULL,"
        " data {blob} NOT NULL, PRIMARY KEY (sha256, chunk)){suffix}",
    ],
    # 6: points packed in chunks of columns (track.persistence.chunks), one row per chunk, with
    #    the summaries that filters and chart previews read; every existing point moves over
    [
        "CREATE TABLE chunks (series_id {bigint} NOT NULL, first_seq {bigint} NOT NULL,"
        " count {bigint} NOT NULL, low_step {real_or_any}, high_step {real_or_any},"
        " first_time {real}, last_time {real}, min_value {real_or_any},"
        " max_value {real_or_any}, min_at {bigint}, max_at {bigint}, last_value {real_or_any},"
        " data {blob} NOT NULL, PRIMARY KEY (series_id, first_seq))",
        "ALTER TABLE series ADD COLUMN open_seq {bigint} NOT NULL DEFAULT 0",
        "ALTER TABLE series ADD COLUMN open_chunks {bigint} NOT NULL DEFAULT 0",
        PythonStep(points_to_chunks),
        "DROP TABLE points",
    ],
]

#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)


def migration_statements(dialect: Dialect, version: int) -> list[str | PythonStep]:
    """The steps of migration ``version`` (1-based), statements in ``dialect``'s types."""
    types = {
        "id_pk": dialect.id_pk,
        "bigint": dialect.bigint,
        "real": dialect.real,
        "json": dialect.json_type,
        "step": dialect.step_ddl,
        "last_step": dialect.last_step_ddl,
        "value": dialect.value_ddl,
        "real_or_any": "" if dialect.name == "sqlite" else dialect.real,
        "ordered_value": dialect.ordered_value,
        "suffix": dialect.table_suffix,
        "blob": "BLOB" if dialect.name == "sqlite" else "BYTEA",
    }
    return [
        step.format(**types) if isinstance(step, str) else step for step in MIGRATIONS[version - 1]
    ]


def ensure_schema(dialect: Dialect, cur: Any) -> int:
    """Create or upgrade the schema inside the caller's write transaction; returns its version.

    Refuses a database written by a newer track (its schema version is higher than ours).
    """
    dialect.schema_lock(cur)
    cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    cur.execute("SELECT MAX(version) FROM schema_version")
    current = cur.fetchone()[0] or 0
    if current > SCHEMA_VERSION:
        raise NewerSchema(
            f"this database has schema version {current}, newer than this track's "
            f"{SCHEMA_VERSION}: upgrade track to use it"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for step in migration_statements(dialect, version):
            if isinstance(step, PythonStep):
                step.run(dialect, cur)
            else:
                cur.execute(step)
        cur.execute(dialect.prepare("INSERT INTO schema_version (version) VALUES (?)"), (version,))
    return SCHEMA_VERSION
