"""SQL stores: ``sqlite:///track.db``, ``postgresql://user:pw@host:port/db``, ``cockroach://...``.

One implementation, three dialects (:mod:`.dialects`). The schema (:mod:`.schema`) is
normalized and versioned: metric points are rows, parameters/metadata/tags are JSON columns
that queries reach by dotted path (:mod:`.compile` turns the query language into SQL). Each
pipeline batch is one transaction: points go in with one multi-row insert (``executemany`` on
SQLite and CockroachDB, ``COPY`` on PostgreSQL) and the writer's last ``seq`` is updated in the
same transaction, so a retried batch is applied once.

Reads do not load series unless asked: ``fetch_trials(q, with_metrics=False)`` reads each
metric's last point from the ``series`` table, and :meth:`SQLProtocol.get_trial_metrics` loads
full series on demand.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, TypeVar

from track.errors import InvalidValue, TrackError, WriteRefused
from track.liveness import HEARTBEAT_KEY, INTERVAL_KEY, STALE_AFTER_INTERVALS
from track.persistence.artifacts import (
    ABANDONED,
    ArtifactInfo,
    ArtifactNotFound,
    ArtifactSource,
    ArtifactsUnsupported,
    FolderBlobs,
    Staged,
    checked_name,
    configured_root,
    guess_media_type,
    opened,
    read_chunks,
    verified,
)
from track.persistence.chunks import ChunkPreview, SeriesColumns
from track.persistence.existing import require_schema, require_sqlite_file
from track.persistence.protocol import (
    GROUP_UPDATE_METHODS,
    TRIAL_UPDATE_METHODS,
    MetricSummary,
    Protocol,
    TrialBatch,
    TrialNotFound,
    check_update_method,
    not_empty,
    with_display,
)
from track.persistence.sql.compile import (
    GROUP_FIELDS,
    PROJECT_FIELDS,
    TRIAL_FIELDS,
    Fields,
    compile_where,
)
from track.persistence.sql.cursor import Cursor
from track.persistence.sql.dialects import Dialect, encode_json, make_dialect
from track.persistence.sql.reads import build_trials
from track.persistence.sql.schema import ensure_schema
from track.persistence.sql.series import append_points, chunk_previews, read_series
from track.persistence.utils import URI, parse_uri
from track.query import parse
from track.retry import retry
from track.serialization import (
    group_from_doc,
    jsonable_dict,
    project_from_doc,
    trial_to_doc,
)
from track.structure import Project, Trial, TrialGroup

__all__ = ["SQLProtocol", "TrialNotFound"]

T = TypeVar("T")
TRIAL_COLUMNS = (
    "t.id, t.uid, t.hash, t.revision, t.name, t.description, t.version, t.project_id,"
    " t.group_id, t.status_name, t.status_value, t.parameters, t.metadata, t.tags,"
    " t.chronos, t.errors"
)
#: how long a write keeps retrying a locked database or a serialization failure
RETRY_SECONDS = 120.0


def stale_after(metadata: dict[str, Any]) -> float | None:
    """When a Running trial with this metadata starts reading as Interrupted (None: never)."""
    beat, interval = metadata.get(HEARTBEAT_KEY), metadata.get(INTERVAL_KEY)
    if isinstance(beat, (int, float)) and isinstance(interval, (int, float)):
        return float(beat + STALE_AFTER_INTERVALS * interval)
    return None


class SQLProtocol(Protocol):
    """A store in a SQL database; one connection per object, shared by its threads."""

    def __init__(self, uri: str | URI, create: bool = True, **options: Any) -> None:
        """Connect, creating the schema; ``create=False`` refuses a database holding no store.

        Read-only tools pass ``create=False``: a missing SQLite file, or a database or schema
        without track's tables, raises :class:`~track.persistence.existing.StoreNotFound`
        and nothing is created.
        """
        self.uri = parse_uri(uri)
        self.dialect: Dialect = make_dialect(self.uri)
        #: the SQLite database file; None for a database server
        self.path = self.dialect.path if self.dialect.name == "sqlite" else None
        #: the folder of ``?artifact_root=`` (None: beside SQLite's file, or chunk rows)
        self.artifact_root = configured_root(self.uri, create)
        self._artifact_owner: str | None = None
        self.retries = 0
        self._lock = threading.RLock()
        self._cursor: Any = None
        if not create and self.dialect.name == "sqlite":
            require_sqlite_file(self.dialect.path)
        self._conn = self._with_retry(self.dialect.connect)
        try:
            self._run(lambda cur: self._open_schema(cur.raw, create))
        except BaseException:
            self._conn.close()
            raise

    def _open_schema(self, cur: Any, create: bool) -> None:
        if not create:
            require_schema(self.dialect, cur)
        ensure_schema(self.dialect, cur)

    @property
    def folder(self) -> str | None:
        """The SQLite file's folder (side files go beside it); None for a database server."""
        if self.path is None or self.path == ":memory:":
            return None
        return os.path.dirname(os.path.abspath(self.path))

    # ---- transactions -------------------------------------------------------------------

    def _with_retry(self, action: Callable[[], T]) -> T:
        # The deadline counts from the first attempt, which may itself wait out SQLite's busy
        # timeout; an error met after it is no longer retryable.
        deadline = time.monotonic() + RETRY_SECONDS

        def retryable(error: Exception) -> bool:
            return self.dialect.retryable(error) and time.monotonic() <= deadline

        def count(error: Exception, failures: int) -> None:
            self.retries += 1

        return retry(
            action,
            transient=retryable,
            initial=0.005,
            maximum=0.5,
            jitter=1.0,
            on_failure=count,
        )

    def _run(self, operation: Callable[[Any], T], write: bool = True) -> T:
        """Run ``operation(cursor)`` in one transaction, retried whole when the database asks.

        A call made while a transaction is open (``fetch_and_update_trial`` applying an update
        method) joins it.
        """
        with self._lock:
            if self._cursor is not None:
                return operation(self._cursor)
            return self._with_retry(lambda: self._attempt(operation, write))

    def _attempt(self, operation: Callable[[Any], T], write: bool) -> T:
        dialect, conn = self.dialect, self._conn
        try:
            self._cursor = Cursor(dialect, dialect.begin(conn, write))
            result = operation(self._cursor)
            dialect.commit(conn)
            return result
        except BaseException:
            dialect.rollback(conn)
            raise
        finally:
            self._cursor = None

    # ---- writes -------------------------------------------------------------------------

    def _lock_trial(self, cur: Cursor, uid: str, columns: str = "id") -> tuple[Any, ...]:
        sql = f"SELECT {columns} FROM trials WHERE uid = ?{self.dialect.for_update}"
        row: tuple[Any, ...] | None = cur.one(sql, uid)
        if row is None:
            raise TrialNotFound(f"no trial {uid!r} in this store")
        return row

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Apply ``batch`` in one transaction, once per (writer, seq); False if applied before."""

        def apply(cur: Cursor) -> bool:
            if batch.writer and not self._claim(cur, batch.writer, batch.seq):
                return False
            changes = batch.metadata or batch.tags or batch.chronos or batch.errors
            if not (changes or batch.status is not None):
                trial_id = self._lock_trial(cur, trial.uid)[0]
                self._append_points(cur, trial_id, batch.series)
                return True
            row = self._lock_trial(cur, trial.uid, "id, metadata, tags, chronos, errors")
            self._append_points(cur, row[0], batch.series)
            load = self.dialect.load_json
            metadata = {**(load(row[1]) or {}), **batch.metadata}
            tags = {**(load(row[2]) or {}), **batch.tags}
            chronos = {**(load(row[3]) or {}), **batch.chronos}
            errors = [*(load(row[4]) or []), *batch.errors]
            j = self.dialect.json_param
            sql = f"UPDATE trials SET metadata = {j}, tags = {j}, chronos = {j}, errors = {j}"
            params: list[Any] = [encode_json(v) for v in (metadata, tags, chronos, errors)]
            if batch.status is not None:
                sql += ", status_name = ?, status_value = ?"
                params += [batch.status.get("name"), batch.status.get("value")]
            cur.run(sql + ", stale_after = ? WHERE id = ?", *params, stale_after(metadata), row[0])
            return True

        try:
            return self._run(apply)
        except Exception as error:
            if not self.dialect.out_of_range(error):
                raise
            # logging refuses such ints (serialization.INT64_MIN/MAX); a batch from elsewhere (an
            # older client, a copy) that holds one is refused for good, not retried forever
            raise WriteRefused(
                f"trial {trial.uid}: a step or value of this batch is beyond what the store keeps "
                f"as a number ({type(error).__name__}: {error})"
            ) from None

    def _claim(self, cur: Cursor, writer: str, seq: int) -> bool:
        """Record ``seq`` among ``writer``'s applied batches; False if it was applied already.

        Applied seqs are kept as ranges (usually one per writer), so a batch older than the
        newest applied one, refused at the time and replayed later, is still applied once.
        """
        lock = self.dialect.for_update
        near = cur.all(
            "SELECT first_seq, last_seq FROM applied WHERE writer = ? AND first_seq <= ?"
            f" AND last_seq >= ? ORDER BY first_seq{lock}",
            writer,
            seq + 1,
            seq - 1,
        )
        if any(first <= seq <= last for first, last in near):
            return False
        first = min([seq, *(row[0] for row in near)])
        last = max([seq, *(row[1] for row in near)])
        if near:
            cur.many(
                "DELETE FROM applied WHERE writer = ? AND first_seq = ?",
                [(writer, row[0]) for row in near],
            )
        cur.run(
            "INSERT INTO applied (writer, first_seq, last_seq) VALUES (?, ?, ?)",
            writer,
            first,
            last,
        )
        return True

    def _append_points(self, cur: Cursor, trial_id: int, series: dict[str, list[Any]]) -> None:
        if series:
            append_points(self.dialect, cur, trial_id, series)

    def _update_json(
        self, table: str, uid: str, column: str, changes: dict[str, Any], missing: type
    ) -> None:
        def apply(cur: Cursor) -> None:
            row = cur.one(
                f"SELECT id, {column} FROM {table} WHERE uid = ?{self.dialect.for_update}", uid
            )
            if row is None:
                raise missing(f"no {table} row {uid!r} in this store")
            merged = {**(self.dialect.load_json(row[1]) or {}), **changes}
            cur.run(
                f"UPDATE {table} SET {column} = {self.dialect.json_param} WHERE id = ?",
                encode_json(merged),
                row[0],
            )

        self._run(apply)

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters into the stored trial (its uid does not change)."""
        self._update_json("trials", trial.uid, "parameters", jsonable_dict(kwargs), TrialNotFound)

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Set metadata keys of a stored group."""
        self._update_json(
            "trial_group", group.uid, "metadata", jsonable_dict(kwargs), TrialNotFound
        )

    # ---- editing ------------------------------------------------------------------------

    def _drop_trials(self, cur: Cursor, ids: list[Any]) -> int:
        """Delete trials by row id with their points, series and memberships (bound ids)."""
        for trial_id in ids:
            cur.run(
                "DELETE FROM chunks WHERE series_id IN (SELECT id FROM series WHERE trial_id = ?)",
                trial_id,
            )
            cur.run("DELETE FROM series WHERE trial_id = ?", trial_id)
            cur.run("DELETE FROM membership WHERE trial_id = ?", trial_id)
            cur.run("DELETE FROM artifacts WHERE trial_id = ?", trial_id)
            cur.run("DELETE FROM trials WHERE id = ?", trial_id)
        return len(ids)

    def _group_trial_ids(self, cur: Cursor, group_uid: str) -> list[Any]:
        """Row ids of the trials in a group (members, or whose ``group_id`` it is)."""
        return cur.column(
            "SELECT id FROM trials WHERE group_id = ? OR id IN"
            " (SELECT trial_id FROM membership WHERE group_uid = ?) ORDER BY id"
            f"{self.dialect.for_update}",
            group_uid,
            group_uid,
        )

    def _locked_id(self, cur: Cursor, table: str, uid: str) -> Any:
        row = cur.one(f"SELECT id FROM {table} WHERE uid = ?{self.dialect.for_update}", uid)
        if row is None:
            kind = "project" if table == "projects" else "group"
            raise TrialNotFound(f"no {kind} {uid!r} in this store")
        return row[0]

    def delete_trials(self, uids: Sequence[str]) -> int:
        """Delete the named trials with their points, series and memberships, in one transaction."""

        def apply(cur: Cursor) -> int:
            ids = []
            for uid in dict.fromkeys(uids):
                row = cur.one(f"SELECT id FROM trials WHERE uid = ?{self.dialect.for_update}", uid)
                if row is not None:
                    ids.append(row[0])
            return self._drop_trials(cur, ids)

        return self._run(apply)

    def delete_group(self, uid: str, trials: bool = False) -> int:
        """Delete a group (refused while it holds trials, unless ``trials=True``)."""

        def apply(cur: Cursor) -> int:
            group_id = self._locked_id(cur, "trial_group", uid)
            held = self._group_trial_ids(cur, uid)
            if held and not trials:
                raise not_empty("group", uid, len(held))
            count = self._drop_trials(cur, held)
            cur.run("DELETE FROM membership WHERE group_uid = ?", uid)
            cur.run("DELETE FROM trial_group WHERE id = ?", group_id)
            return count

        return self._run(apply)

    def delete_project(self, uid: str, trials: bool = False) -> int:
        """Delete a project and its groups (refused while they hold trials, unless ``trials``)."""

        def apply(cur: Cursor) -> int:
            project_id = self._locked_id(cur, "projects", uid)
            groups = cur.column("SELECT uid FROM trial_group WHERE project_id = ?", uid)
            held = cur.column(
                f"SELECT id FROM trials WHERE project_id = ?{self.dialect.for_update}", uid
            )
            for group_uid in groups:
                held += self._group_trial_ids(cur, group_uid)
            held = list(dict.fromkeys(held))
            if held and not trials:
                raise not_empty("project", uid, len(held))
            count = self._drop_trials(cur, held)
            for group_uid in groups:
                cur.run("DELETE FROM membership WHERE group_uid = ?", group_uid)
            cur.run("DELETE FROM trial_group WHERE project_id = ?", uid)
            cur.run("DELETE FROM projects WHERE id = ?", project_id)
            return count

        return self._run(apply)

    def _edit_json(self, uid: str, column: str, edit: Callable[[dict[str, Any]], Any]) -> None:
        """Replace a trial's JSON ``column`` by ``edit(current)``, under the row's lock."""

        def apply(cur: Cursor) -> None:
            trial_id, current = self._lock_trial(cur, uid, f"id, {column}")
            changed = edit(self.dialect.load_json(current) or {})
            cur.run(
                f"UPDATE trials SET {column} = {self.dialect.json_param} WHERE id = ?",
                encode_json(changed),
                trial_id,
            )

        self._run(apply)

    def set_trial_display(self, uid: str, name: str | None = None, note: str | None = None) -> None:
        """Set ``metadata.display_name`` and ``metadata.note`` ("" removes; identity unchanged)."""
        with_display({}, name, note)  # refuses a bad value before the transaction
        self._edit_json(uid, "metadata", lambda metadata: with_display(metadata, name, note))

    def remove_trial_tags(self, uid: str, names: Sequence[str]) -> None:
        """Remove the named tags of a stored trial."""
        drop = set(names)
        self._edit_json(uid, "tags", lambda tags: {k: v for k, v in tags.items() if k not in drop})

    # ---- artifacts: the index in ``artifacts``; bytes beside SQLite's file, else chunks ------

    @staticmethod
    def _trial_exists(cur: Cursor, uid: str) -> None:
        if cur.one("SELECT 1 FROM trials WHERE uid = ?", uid) is None:
            raise TrialNotFound(f"no trial {uid!r} in this store")

    def _artifact_blobs(self) -> FolderBlobs | None:
        """The ``artifact_root`` folder, else ``<database file>.artifacts/``; None: chunk rows."""
        if self.artifact_root is not None:
            return FolderBlobs(self.artifact_root, owner=self._store_identity())
        if self.path is None:
            return None
        if self.path == ":memory:":
            raise ArtifactsUnsupported(
                "an in-memory SQLite store has no folder for artifacts (give it ?artifact_root=)"
            )
        return FolderBlobs(os.path.abspath(self.path) + ".artifacts")

    def _store_identity(self) -> str:
        """What names this store in an ``artifact_root`` marker, whichever URI reached it.

        SQLite: the database file's real path. A database server: its own answer (the
        cluster's system identifier on PostgreSQL), the database and the schema.
        """
        if self._artifact_owner is None:
            if self.path is not None:
                real = os.path.realpath(self.path) if self.path != ":memory:" else self.path
                self._artifact_owner = f"sqlite:{real}"
            else:
                sql = "SELECT current_database(), current_schema()"
                if self.dialect.name == "postgresql":
                    sql += ", (SELECT system_identifier FROM pg_control_system())"
                row = self._run(lambda cur: cur.one(sql), write=False)
                self._artifact_owner = f"{self.dialect.name}:" + "/".join(map(str, row[::-1]))
        return self._artifact_owner

    @staticmethod
    def _artifact_lock(cur: Cursor) -> None:
        """Hold the artifacts' lock until the transaction ends (SQLite's write lock suffices).

        The first ``schema_version`` row, locked for update: every dialect has it, and only
        puts settling their bytes and collections take it, so the two never interleave.
        """
        cur.one("SELECT version FROM schema_version WHERE version = 1" + cur.dialect.for_update)

    def _put_chunks(self, file: BinaryIO) -> tuple[str, int, str, int]:
        """Insert ``file`` as rows of ``artifact_chunks`` under a partial key, one per chunk.

        Each chunk is its own short transaction, so a large file holds no long transaction
        and no more than one chunk in memory. Returns ``(sha256, size, partial key, chunks)``;
        the caller settles the rows under the digest (:meth:`_settle_chunks`). The partial key
        holds its start time, so a collection can tell an abandoned put from a running one.
        """
        partial = f"partial:{int(time.time())}:{uuid.uuid4().hex}"
        digest, size, count = hashlib.sha256(), 0, 0
        insert = "INSERT INTO artifact_chunks (sha256, chunk, data) VALUES (?, ?, ?)"
        try:
            for count, chunk in enumerate(read_chunks(file), 1):
                digest.update(chunk)
                size += len(chunk)
                self._run(_running(insert, partial, count - 1, chunk))
        except BaseException:
            self._drop_partial(partial)
            raise
        return digest.hexdigest(), size, partial, count

    def _drop_partial(self, partial: str) -> None:
        self._run(lambda cur: cur.run("DELETE FROM artifact_chunks WHERE sha256 = ?", partial))

    def _settle_chunks(self, cur: Cursor, sha256: str, partial: str, count: int) -> None:
        """Keep the partial rows as the content ``sha256``, or drop them if it is stored already.

        Under the artifacts' lock (:meth:`_artifact_lock`), so two writers of the same content
        cannot both rename their rows to it, and a collection cannot remove the content
        between this check and the commit of the index row that names it.
        """
        self._artifact_lock(cur)
        held = cur.one("SELECT 1 FROM artifact_chunks WHERE sha256 = ? AND chunk = 0", sha256)
        if held is not None:
            cur.run("DELETE FROM artifact_chunks WHERE sha256 = ?", partial)
            return
        found = cur.one("SELECT COUNT(*) FROM artifact_chunks WHERE sha256 = ?", partial)[0]
        if found != count:
            raise TrackError(
                f"{count - found} of the {count} rows of this put were removed as abandoned "
                "(it ran longer than collect_artifacts waits): put the artifact again"
            )
        cur.run("UPDATE artifact_chunks SET sha256 = ? WHERE sha256 = ?", sha256, partial)

    def put_artifact(
        self,
        trial: Trial,
        name: str,
        source: ArtifactSource,
        media_type: str | None = None,
    ) -> ArtifactInfo:
        """Store the bytes (staged file or partial rows), then settle and index them at once."""
        checked_name(name)
        blobs = self._artifact_blobs()
        self._run(lambda cur: self._trial_exists(cur, trial.uid), write=False)
        staged: Staged | None = None
        partial, count = None, 0
        with opened(source) as file:
            if blobs is not None:
                staged = blobs.stage(file)
                sha256, size = staged.sha256, staged.size
            else:
                sha256, size, partial, count = self._put_chunks(file)
        info = ArtifactInfo(
            trial.uid, name, size, sha256, time.time(), media_type or guess_media_type(name)
        )

        def index(cur: Cursor) -> None:
            (trial_id,) = self._lock_trial(cur, trial.uid)
            if partial is not None:
                self._settle_chunks(cur, sha256, partial, count)
            elif blobs is not None and staged is not None:
                self._artifact_lock(cur)
                blobs.place(staged)
            cur.run("DELETE FROM artifacts WHERE trial_id = ? AND name = ?", trial_id, name)
            cur.run(
                "INSERT INTO artifacts (trial_id, name, size, sha256, time, media_type)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                trial_id,
                name,
                info.size,
                info.sha256,
                info.time,
                info.media_type,
            )

        try:
            self._run(index)
        except BaseException:
            if partial is not None:
                self._drop_partial(partial)
            raise
        finally:
            if blobs is not None and staged is not None:
                blobs.discard(staged)
        return info

    def collect_artifacts(self) -> tuple[int, int]:
        """Remove the contents no ``artifacts`` row names (and abandoned partial puts).

        A folder is collected in one transaction holding the artifacts' lock; chunk rows one
        content per short transaction, each checking again under the lock that no row names it.
        """
        blobs = self._artifact_blobs()
        if blobs is not None:

            def collect(cur: Cursor) -> tuple[int, int]:
                self._artifact_lock(cur)
                referenced = set(cur.column("SELECT DISTINCT sha256 FROM artifacts"))
                return blobs.collect(referenced)

            return self._run(collect)
        candidates = self._run(
            lambda cur: cur.column(
                "SELECT c.sha256 FROM artifact_chunks c WHERE c.chunk = 0 AND NOT EXISTS"
                " (SELECT 1 FROM artifacts a WHERE a.sha256 = c.sha256)"
            ),
            write=False,
        )
        count = freed = 0
        for key in candidates:
            if key.startswith("partial:") and not _abandoned(key):
                continue
            removed = self._run(_removing_content(key))
            if removed is not None:
                count += not key.startswith("partial:")
                freed += removed
        return count, freed

    def _artifact_rows(self, uid: str, name: str | None = None) -> list[ArtifactInfo]:
        sql = (
            "SELECT a.name, a.size, a.sha256, a.time, a.media_type FROM artifacts a"
            " JOIN trials t ON t.id = a.trial_id WHERE t.uid = ?"
        )
        params: tuple[Any, ...] = (uid,)
        if name is not None:
            sql, params = sql + " AND a.name = ?", (uid, name)

        def read(cur: Cursor) -> list[ArtifactInfo]:
            self._trial_exists(cur, uid)
            rows = cur.all(sql + " ORDER BY a.name", *params)
            return [ArtifactInfo(uid, r[0], int(r[1]), r[2], float(r[3]), r[4]) for r in rows]

        return self._run(read, write=False)

    def list_artifacts(self, trial: Trial) -> list[ArtifactInfo]:
        """The trial's rows of ``artifacts``, by name."""
        return self._artifact_rows(trial.uid)

    def open_artifact(self, trial: Trial, name: str) -> Iterator[bytes]:
        """The artifact's bytes, chunk by chunk (one short read per chunk), digest checked."""
        found = self._artifact_rows(trial.uid, name)
        if not found:
            raise ArtifactNotFound(f"trial {trial.uid!r} has no artifact {name!r}")
        sha256 = found[0].sha256
        blobs = self._artifact_blobs()
        chunks = blobs.chunks(sha256) if blobs is not None else self._stored_chunks(sha256)
        return verified(chunks, sha256, f"artifact {name!r} of trial {trial.uid}")

    def _stored_chunks(self, sha256: str) -> Iterator[bytes]:
        select = "SELECT data FROM artifact_chunks WHERE sha256 = ? AND chunk = ?"
        number = 0
        while True:
            row = self._run(_reading(select, sha256, number), write=False)
            if row is None:
                return
            yield bytes(row[0])
            number += 1

    # ---- projects and groups ------------------------------------------------------------

    def new_project(self, project: Project) -> Project | None:
        """Insert a project; None if one with this uid exists."""
        j = self.dialect.json_param
        sql = (
            "INSERT INTO projects (uid, name, description, metadata, tags)"
            f" VALUES (?, ?, ?, {j}, {j}) ON CONFLICT (uid) DO NOTHING RETURNING id"
        )
        args = (project.uid, project.name, project.description)
        metadata = encode_json(jsonable_dict(project.metadata))
        tags = encode_json(jsonable_dict(project.tags))
        row = self._run(lambda cur: cur.one(sql, *args, metadata, tags))
        return project if row is not None else None

    def get_project(self, project: Project) -> Project | None:
        """The stored project with this uid, or None."""
        found = self._projects(PROJECT_FIELDS, parse({"uid": project.uid}))
        return found[0] if found else None

    def fetch_projects(self, query: dict[str, Any] | None) -> list[Project]:
        """Projects matching ``query``."""
        return self._projects(PROJECT_FIELDS, parse(query))

    def _projects(self, fields: Fields, conditions: Any) -> list[Project]:
        where, params = compile_where(self.dialect, fields, conditions, time.time())

        def read(cur: Cursor) -> list[Project]:
            projects = []
            sql = (
                "SELECT p.uid, p.name, p.description, p.metadata, p.tags FROM projects p"
                f" WHERE {where}"
            )
            for uid, name, description, metadata, tags in cur.all(sql + " ORDER BY p.id", *params):
                groups = cur.column("SELECT uid FROM trial_group WHERE project_id = ?", uid)
                trials = cur.column("SELECT uid FROM trials WHERE project_id = ?", uid)
                doc = {"uid": uid, "name": name, "description": description}
                doc.update(metadata=self.dialect.load_json(metadata), groups=groups, trials=trials)
                doc["tags"] = self.dialect.load_json(tags) if tags is not None else {}
                projects.append(project_from_doc(doc))
            return projects

        return self._run(read, write=False)

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert a group; None if it exists."""
        j = self.dialect.json_param
        sql = (
            "INSERT INTO trial_group (uid, name, description, metadata, project_id, tags)"
            f" VALUES (?, ?, ?, {j}, ?, {j}) ON CONFLICT (uid) DO NOTHING RETURNING id"
        )
        args = (group.uid, group.name, group.description)
        metadata = encode_json(jsonable_dict(group.metadata))
        tags = encode_json(jsonable_dict(group.tags))
        row = self._run(lambda cur: cur.one(sql, *args, metadata, group.project_id, tags))
        return group if row is not None else None

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """The stored group with this uid, or None."""
        found = self._groups(parse({"uid": group.uid}))
        return found[0] if found else None

    def fetch_groups(self, query: dict[str, Any] | None) -> list[TrialGroup]:
        """Groups matching ``query``."""
        return self._groups(parse(query))

    def _groups(self, conditions: Any, lock: str = "", limit: str = "") -> list[TrialGroup]:
        where, params = compile_where(self.dialect, GROUP_FIELDS, conditions, time.time())
        sql = (
            "SELECT g.uid, g.name, g.description, g.metadata, g.project_id, g.tags"
            " FROM trial_group g"
            f" WHERE {where} ORDER BY g.id{limit}{lock}"
        )

        def read(cur: Cursor) -> list[TrialGroup]:
            groups = []
            for uid, name, description, metadata, project_id, tags in cur.all(sql, *params):
                trials = cur.column(
                    "SELECT t.uid FROM membership m JOIN trials t ON t.id = m.trial_id"
                    " WHERE m.group_uid = ?",
                    uid,
                )
                doc = {"uid": uid, "name": name, "description": description}
                doc.update(metadata=self.dialect.load_json(metadata), project_id=project_id)
                doc["tags"] = self.dialect.load_json(tags) if tags is not None else {}
                groups.append(group_from_doc({**doc, "trials": trials}))
            return groups

        return self._run(read, write=bool(lock))

    @staticmethod
    def _require(cur: Cursor, table: str, uid: str) -> None:
        """Refuse a write that names a project or group the store does not hold."""
        if cur.one(f"SELECT 1 FROM {table} WHERE uid = ?", uid) is None:
            kind = "project" if table == "projects" else "group"
            raise TrialNotFound(f"no {kind} {uid!r} in this store")

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach a stored trial to a project."""

        def apply(cur: Cursor) -> None:
            self._require(cur, "projects", project.uid)
            trial_id = self._lock_trial(cur, trial.uid)[0]
            cur.run("UPDATE trials SET project_id = ? WHERE id = ?", project.uid, trial_id)

        self._run(apply)

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Add a stored trial to a group (its ``group_id`` too, if it had none)."""

        def apply(cur: Cursor) -> None:
            self._require(cur, "trial_group", group.uid)
            trial_id = self._lock_trial(cur, trial.uid)[0]
            cur.run(
                "INSERT INTO membership (trial_id, group_uid) VALUES (?, ?)"
                " ON CONFLICT (trial_id, group_uid) DO NOTHING",
                trial_id,
                group.uid,
            )
            cur.run(
                "UPDATE trials SET group_id = ? WHERE id = ? AND group_id IS NULL",
                group.uid,
                trial_id,
            )

        self._run(apply)

    # ---- trials -------------------------------------------------------------------------

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert a trial (with any metrics it holds); bump its revision when ``auto_increment``."""
        j = self.dialect.json_param

        def insert(cur: Cursor) -> Trial | None:
            while True:
                doc = trial_to_doc(trial)
                status = doc["status"] or {}
                row = cur.one(
                    "INSERT INTO trials (uid, hash, revision, name, description, version,"
                    " project_id, group_id, status_name, status_value, stale_after, parameters,"
                    f" metadata, tags, chronos, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                    f" {j}, {j}, {j}, {j}, {j}) ON CONFLICT (uid) DO NOTHING RETURNING id",
                    *(doc[k] for k in ("uid", "hash", "revision", "name", "description")),
                    *(doc[k] for k in ("version", "project_id", "group_id")),
                    status.get("name"),
                    status.get("value"),
                    stale_after(doc["metadata"]),
                    *(encode_json(doc[k]) for k in ("parameters", "metadata", "tags")),
                    *(encode_json(doc[k]) for k in ("chronos", "errors")),
                )
                if row is not None:
                    break
                if not auto_increment:
                    return None
                top = cur.one("SELECT MAX(revision) FROM trials WHERE hash = ?", trial.hash)
                trial.revision = int(top[0]) + 1
            cur.many(
                "INSERT INTO membership (trial_id, group_uid) VALUES (?, ?)",
                [(row[0], g) for g in doc["groups"]],
            )
            series = {name: [tuple(p) for p in points] for name, points in trial.metrics.items()}
            self._append_points(cur, row[0], {k: v for k, v in series.items() if v})
            return trial

        return self._run(insert)

    def get_trial(self, trial: Trial) -> list[Trial]:
        """The stored trial with this uid (a one-element list; empty if absent)."""
        return self._trials(parse({"uid": trial.uid}), with_metrics=True)

    def fetch_trials(self, query: dict[str, Any] | None, with_metrics: bool = True) -> list[Trial]:
        """Trials matching ``query``, compiled to SQL; ``with_metrics=False`` loads last points."""
        return self._trials(parse(query), with_metrics)

    def _trials(
        self,
        conditions: Any,
        with_metrics: bool,
        lock: str = "",
        limit: str = "",
        summaries: dict[str, dict[str, MetricSummary]] | None = None,
    ) -> list[Trial]:
        where, params = compile_where(self.dialect, TRIAL_FIELDS, conditions, time.time())
        chosen = f"SELECT t.id FROM trials t WHERE {where}"

        def read(cur: Cursor) -> list[Trial]:
            rows = cur.all(
                f"SELECT {TRIAL_COLUMNS} FROM trials t WHERE {where} ORDER BY t.id{limit}{lock}",
                *params,
            )
            if not rows:
                return []
            if limit:
                ids: tuple[str, list[Any]] = ("?", [rows[0][0]])
            else:
                ids = (chosen, list(params))
            return build_trials(self.dialect, cur, rows, ids, with_metrics, summaries)

        return self._run(read, write=bool(lock))

    def fetch_summaries(
        self, query: dict[str, Any] | None
    ) -> list[tuple[Trial, dict[str, MetricSummary]]]:
        """Matching trials (last points only) and the count, min and max each series keeps."""
        summaries: dict[str, dict[str, MetricSummary]] = {}
        trials = self._trials(parse(query), with_metrics=False, summaries=summaries)
        return [(trial, summaries.get(trial.uid, {})) for trial in trials]

    def get_trial_metrics(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[list[Any]]]:
        """Full series of a trial's metrics (all, or those named), loaded on demand."""
        return {
            name: series.points() for name, series in self.get_trial_series(trial, names).items()
        }

    def get_trial_series(
        self, trial: Trial, names: list[str] | None = None, low: Any = None, high: Any = None
    ) -> dict[str, SeriesColumns]:
        """A trial's series as columns, unpacked from their chunks (only those that may hold
        steps within ``low``..``high`` when a bound is given)."""

        def read(cur: Cursor) -> dict[str, SeriesColumns]:
            sql = "SELECT s.id, s.name FROM series s JOIN trials t ON t.id = s.trial_id"
            sql += " WHERE t.uid = ?"
            params: list[Any] = [trial.uid]
            if names is not None:
                if not names:
                    return {}
                sql += f" AND s.name IN ({', '.join('?' for _ in names)})"
                params += list(names)
            series = cur.all(sql + " ORDER BY s.id", *params)
            return {name: read_series(self.dialect, cur, sid, low, high) for sid, name in series}

        return self._run(read, write=False)

    def get_series_previews(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[ChunkPreview]]:
        """Each series' chunk summaries, read from their columns (no blob is unpacked)."""

        def read(cur: Cursor) -> dict[str, list[ChunkPreview]]:
            row = cur.one("SELECT id FROM trials WHERE uid = ?", trial.uid)
            if row is None or names == []:
                return {}
            return chunk_previews(cur, row[0], names)

        return self._run(read, write=False)

    def fetch_and_update_trial(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> Trial | None:
        """Reserve the first matching trial (row lock, skipping locked rows) and update it.

        One transaction: ``SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED`` on PostgreSQL,
        ``BEGIN IMMEDIATE`` on SQLite, a retried SERIALIZABLE transaction on CockroachDB.
        """
        check_update_method(attr, TRIAL_UPDATE_METHODS)
        conditions = parse(query)

        def apply(cur: Cursor) -> Trial | None:
            found = self._trials(conditions, False, self.dialect.skip_locked, " LIMIT 1")
            if not found:
                return None
            # ``attr`` passed check_update_method's allow-list above
            getattr(self, attr)(found[0], *args, **kwargs)
            return self.get_trial(found[0])[0]

        return self._run(apply)

    def fetch_and_update_group(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> TrialGroup | None:
        """Pick the first matching group and apply ``attr`` to it, in one transaction."""
        check_update_method(attr, GROUP_UPDATE_METHODS)
        conditions = parse(query)

        def apply(cur: Cursor) -> TrialGroup | None:
            found = self._groups(conditions, self.dialect.skip_locked, " LIMIT 1")
            if not found:
                return None
            # ``attr`` passed check_update_method's allow-list above
            getattr(self, attr)(found[0], *args, **kwargs)
            return self.get_trial_group(found[0])

        return self._run(apply)

    def fetch_and_update_once(
        self,
        request: str,
        kind: str,
        query: dict[str, Any],
        attr: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Trial | TrialGroup | None:
        """Reserve once per ``request``: the id is recorded in the reservation's transaction."""
        if kind not in ("trial", "group"):
            raise InvalidValue(f"kind must be 'trial' or 'group', not {kind!r}")

        def apply(cur: Cursor) -> Trial | TrialGroup | None:
            row = cur.one(
                f"SELECT uid FROM requests WHERE id = ?{self.dialect.for_update}", request
            )
            if row is not None:
                if row[0] is None:
                    return None
                conditions = parse({"uid": row[0]})
                found = (
                    self._trials(conditions, with_metrics=True)
                    if kind == "trial"
                    else self._groups(conditions)
                )
                return found[0] if found else None
            picked = super(SQLProtocol, self).fetch_and_update_once(
                request, kind, query, attr, args, kwargs
            )
            cur.run(
                "INSERT INTO requests (id, kind, uid) VALUES (?, ?, ?)",
                request,
                kind,
                None if picked is None else picked.uid,
            )
            return picked

        return self._run(apply)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def _running(sql: str, *params: Any) -> Callable[[Cursor], None]:
    """A transaction body running one statement with these parameters (bound now, not later)."""
    return lambda cur: cur.run(sql, *params)


def _reading(sql: str, *params: Any) -> Callable[[Cursor], Any]:
    """A transaction body reading one row with these parameters (bound now, not later)."""
    return lambda cur: cur.one(sql, *params)


def _abandoned(partial: str) -> bool:
    """Whether the partial rows under this key belong to a put older than ABANDONED.

    A key without a start time (written by an older track) is never taken for abandoned.
    """
    started = partial.split(":")[1]
    return started.isdigit() and time.time() - int(started) > ABANDONED


def _removing_content(key: str) -> Callable[[Cursor], int | None]:
    """A transaction body deleting the chunk rows of ``key`` if no index row names it.

    Returns the bytes freed, or None when a put indexed the content meanwhile.
    """

    def remove(cur: Cursor) -> int | None:
        SQLProtocol._artifact_lock(cur)
        if cur.one("SELECT 1 FROM artifacts WHERE sha256 = ?", key) is not None:
            return None
        size = cur.one(
            "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM artifact_chunks WHERE sha256 = ?", key
        )[0]
        cur.run("DELETE FROM artifact_chunks WHERE sha256 = ?", key)
        return int(size)

    return remove
