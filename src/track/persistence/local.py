"""``file://path.json``: a JSON document plus an append-only journal, safe for many processes.

Three files sit side by side:

``path.json``, the document
    JSON that ``json.load`` reads (NaN and infinities as ``NaN``/``Infinity``), laid out with
    one trial per line::

        {"format": "track/1",
        "projects": {...},
        "groups": {...},
        "writers": {...},
        "requests": {...},
        "journal": {"id": "<journal id>", "offset": <bytes of that journal already held>},
        "trials": {
        "<uid>": {"uid": ..., "parameters": {...}, "metrics": {"loss": [[step, value, time], ...]}},
        ...
        }}

``path.json.journal``, the newest batches
    A header line ``{"journal": "<random id>", "format": "track-journal/1"}``, then one JSON
    line per applied batch: ``{"trial": uid, "batch": {"series": ..., "writer": ..., "seq":
    ..., "metadata": ..., "tags": ..., "chronos": ..., "status": ..., "errors": ...}}``.

``path.json.lock``
    Every transaction holds an ``fcntl`` lock on it (shared to read, exclusive to write).
    The kernel drops the lock of a killed process, so a ``kill -9`` never leaves a lock to
    wait on.

**What a flush costs.** The write pipeline calls ``log_trial_batch`` once per trial per flush
interval; that appends one line to the journal and fsyncs it, so a flush costs the points it
adds, not the size of the store. Every other write (a new trial, project or group, a
reservation through ``fetch_and_update_*``) rewrites the document, atomically (temporary file,
fsync, rename), folding the journal in: a *compaction*, after which a new, empty journal
starts. ``commit(compact=True)`` (``TrackClient.save()``) and ``close()`` (of a store that
appended) compact too, and so does a flush that grows the journal past
``max(compact_bytes, size of the document)`` (64 MiB by default), which keeps the amortized
cost of compactions per point constant. A plain ``commit()`` does nothing: each flush is
already durable (fsync'd) when ``log_trial_batch`` returns.

**Between compactions the newest points live only in the journal.** ``json.load`` of the
document alone misses them; track's readers merge both. After ``close()`` or
``commit(compact=True)`` the document holds everything (a process killed, or ending without
``close()``, leaves its last batches in the journal, where any track reader, and the next
compaction, finds them).

**Readers and other processes.** A transaction re-reads the document only when another process
replaced it (its inode, mtime and size changed), and replays only the journal lines appended
since this process last looked. The document names the journal it has absorbed and how far,
so a writer killed between writing the document and starting a new journal never gets a
batch applied twice.

**kill -9.** A killed writer leaves either the old or the new document (never a torn one) and a
journal whose last line may be cut short. Readers ignore such a line, with a warning: its batch
is not applied and its (writer, seq) is not recorded, so a replay of it (``track replay``) still
applies it; the next writer truncates the cut line before appending. What a killed process
loses is what its pipeline had not yet handed to the store: at most about one flush interval
plus the duration of one flush of logging.

``pickled://`` (:mod:`track.persistence.pickled`) shares the locking and reloading but keeps
rewriting its whole pickle at every write (no journal): it is a snapshot format.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
import uuid
from typing import Any

from track.errors import ConfigurationError, UnusableStore
from track.persistence.artifacts import FolderBlobs, configured_root
from track.persistence.documents import DocumentStore, apply_batch, empty_state, upgrade_state
from track.persistence.protocol import TrialBatch, record_applied
from track.persistence.utils import URI, parse_uri
from track.registry import lazy_aliases

__all__ = ["FileProtocol"]

log = logging.getLogger("track.persistence.local")

JOURNAL_FORMAT = "track-journal/1"


class _Journal:
    """What this process knows of the journal file: its id and how far it has been read."""

    __slots__ = ("id", "position", "warned")

    def __init__(self, journal_id: str, position: int) -> None:
        self.id = journal_id
        #: end of the last complete line applied to (or written from) this process's state
        self.position = position
        #: the position at which a cut-short last line was last reported
        self.warned = -1


class FileProtocol(DocumentStore):
    """A store in one JSON document and its journal.

    ``strict`` is the seed API's; only True is accepted: every write is a locked, all-or-nothing
    transaction, so the store is always consistent and has no inconsistencies to ignore.

    ``eager=False`` keeps writes in memory until :meth:`commit`, for a single process that
    wants the fewest writes; the default writes at every transaction (every flush).
    """

    #: whether flushes append to a journal (``pickled://`` rewrites its file instead)
    journaled = True
    #: a flush compacts once the journal is larger than this and than the document
    compact_bytes = 64 * 1024 * 1024

    def __init__(self, uri: str | URI, strict: bool = True, eager: bool = True) -> None:
        if not strict:
            raise ConfigurationError(
                f"FileProtocol(strict={strict!r}) is not supported: track's file store is always "
                "strict (every write is a locked, all-or-nothing transaction, so there are no "
                "inconsistencies to ignore); leave strict at its default"
            )
        super().__init__()
        self.uri = parse_uri(uri)
        self.path = os.path.abspath(self.uri.location)
        if not self.uri.location:
            raise ConfigurationError(
                f"{self.uri.redacted()!r} names no file (use {self.uri.scheme}://run.json)"
            )
        self.journal_path = self.path + ".journal"
        #: the folder of ``?artifact_root=`` (None: ``<store file>.artifacts/`` beside it)
        self.artifact_root = configured_root(self.uri)
        self.strict = strict
        self.eager = eager
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._lock_file = open(self.path + ".lock", "a+b")  # noqa: SIM115 (held for life)
        self._signature: tuple[int, int, int] | None = None
        self._document_size = 0
        #: the document's record of the journal it absorbed: {"id", "offset"}
        self._held: dict[str, Any] | None = None
        self._journal: _Journal | None = None
        #: this object appended to the journal since its last compaction
        self._appended = False
        self._encoded_trials: dict[str, _EncodedTrial] = {}

    # ---- transaction hooks --------------------------------------------------------------

    def _begin(self, write: bool) -> None:
        fcntl.flock(self._lock_file, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            self._refresh()
        except BaseException:
            self._forget()
            raise

    def _end(self) -> None:
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _forget(self) -> None:
        """Drop what this process knows of the files: the next transaction reads them anew."""
        self._state = empty_state()
        self._signature = None
        self._held = None
        self._journal = None
        self._encoded_trials.clear()

    def _refresh(self) -> None:
        """Bring the state up to date with the files: the document if replaced, new journal lines."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if signature != self._signature:
            with open(self.path, "rb") as file:
                data = file.read()
            state = self._decode(data) if data else empty_state()
            self._held = state.pop("journal", None)
            self._state = upgrade_state(state)
            self._encoded_trials.clear()
            self._signature = signature
            self._document_size = stat.st_size
            self._journal = None
        if self.journaled:
            self._catch_up()

    def _catch_up(self) -> None:
        """Replay the journal lines this process has not applied yet."""
        try:
            file = open(self.journal_path, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            self._journal = None
            return
        with file:
            size = os.fstat(file.fileno()).st_size
            header = file.readline()
            journal_id = self._journal_id(header)
            journal = self._journal
            if journal is None or journal.id != journal_id:
                start = len(header)
                held = self._held
                if held is not None and held.get("id") == journal_id:
                    start = max(start, int(held["offset"]))
                journal = self._journal = _Journal(journal_id, start)
            if size == journal.position:
                return
            if size < journal.position:
                raise UnusableStore(
                    f"{self.journal_path} is shorter than what this store already read from it"
                    " (was it edited?)"
                )
            file.seek(journal.position)
            data = file.read()
        end = data.rfind(b"\n") + 1
        if end:
            for line in data[: end - 1].split(b"\n"):
                self._replay(line)
            journal.position += end
        if end < len(data) and journal.warned != journal.position:
            journal.warned = journal.position
            log.warning(
                "track: %s ends with a cut-short line (%d bytes, from a writer killed while"
                " appending); ignored: that batch is not applied, and replaying it applies it",
                self.journal_path,
                len(data) - end,
            )

    def _journal_id(self, header: bytes) -> str:
        try:
            doc = json.loads(header)
            if doc.get("format") != JOURNAL_FORMAT:
                raise ValueError(doc.get("format"))
            return str(doc["journal"])
        except (ValueError, KeyError, AttributeError) as error:
            raise UnusableStore(f"{self.journal_path} is not a track journal: {error}") from None

    def _replay(self, line: bytes) -> None:
        """Apply one journal line (a batch another process, or this one, committed).

        Only the last line can be cut short by a kill (the caller skips it); a whole line that
        is not a batch means the file was damaged or edited, and reading stops, naming it.
        """
        try:
            record = json.loads(line)
            uid, doc = record["trial"], record["batch"]
            if not isinstance(doc, dict):
                raise TypeError(f"its batch is a {type(doc).__name__}")
        except (ValueError, KeyError, TypeError) as error:
            raise UnusableStore(
                f"{self.journal_path} holds a line that is not a track batch ({error}: "
                f"{line[:80]!r}); the file was damaged or edited, so it is not read further"
            ) from None
        state = self._state
        trial = state["trials"].get(uid)
        if trial is None:
            raise UnusableStore(
                f"{self.journal_path} has a batch for trial {uid!r}, which {self.path} lacks"
            )
        writer = doc.get("writer") or ""
        batch = TrialBatch(
            writer=writer,
            seq=int(doc.get("seq") or 0),
            series=doc.get("series") or {},
            metadata=doc.get("metadata") or {},
            tags=doc.get("tags") or {},
            chronos=doc.get("chronos") or {},
            status=doc.get("status"),
            errors=doc.get("errors") or [],
        )
        if writer and not record_applied(state["writers"].setdefault(writer, []), batch.seq):
            return
        apply_batch(trial, batch)
        self._encoded_trials.pop(uid, None)

    def _save(self) -> None:
        try:
            if self.journaled and self.eager and self._only_batches and self._signature:
                self._append(self._applied)
                if self._journal_bytes() > max(self.compact_bytes, self._document_size):
                    self._compact()
            else:
                self._note_changes()
                if self.eager:
                    self._compact()
        except BaseException:
            self._forget()  # whatever reached the disk, the next transaction reads it back
            raise

    # ---- the journal --------------------------------------------------------------------

    def _journal_bytes(self) -> int:
        """Bytes of batch lines in the journal (0 without one)."""
        journal = self._journal
        return 0 if journal is None else journal.position - self._header_size(journal.id)

    @staticmethod
    def _header(journal_id: str) -> bytes:
        return json.dumps({"journal": journal_id, "format": JOURNAL_FORMAT}).encode() + b"\n"

    def _header_size(self, journal_id: str) -> int:
        return len(self._header(journal_id))

    def _new_journal(self) -> None:
        """Start an empty journal (atomically replacing any old one)."""
        journal_id = uuid.uuid4().hex
        header = self._header(journal_id)
        _write_atomically(self.journal_path, header)
        self._journal = _Journal(journal_id, len(header))

    def _append(self, applied: list[tuple[str, TrialBatch]]) -> None:
        """Append one line per applied batch to the journal and fsync it."""
        if self._journal is None:
            self._new_journal()
        journal = self._journal
        assert journal is not None
        encoded = [_journal_line(uid, batch) for uid, batch in applied]
        data = b"".join(line for line, _ in encoded)
        descriptor = os.open(self.journal_path, os.O_WRONLY)
        try:
            if os.fstat(descriptor).st_size != journal.position:
                os.ftruncate(descriptor, journal.position)  # a line cut short by a kill
            written = 0
            while written < len(data):
                written += os.pwrite(descriptor, data[written:], journal.position + written)
            os.fsync(descriptor)
        except BaseException:
            # the write's own error is raised; if this fails too, the next writer truncates
            # the cut line, and readers ignore it (with a warning) meanwhile
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, journal.position)
            raise
        finally:
            os.close(descriptor)
        journal.position += len(data)
        self._appended = True
        cache = self._encoded_trials
        for (uid, batch), (_, chunks) in zip(applied, encoded, strict=True):
            trial = cache.get(uid)
            if trial is not None:
                trial.add(batch, chunks)

    def _note_changes(self) -> None:
        """Update the encoded trials for a document rewrite: re-encode what changed."""
        cache = self._encoded_trials
        for uid in self._changed:
            cache.pop(uid, None)
        for uid, batch in self._applied:
            trial = cache.get(uid)
            if trial is not None:
                trial.add(batch, {name: _points_text(p) for name, p in batch.series.items()})

    def _compact(self) -> None:
        """Write the whole state as the document, then start a new journal if the old had lines."""
        journal = self._journal
        if journal is None and self.journaled and os.path.exists(self.journal_path):
            # a journal whose document is gone (deleted): its batches name trials this new
            # document does not hold, so it is replaced before the document is written
            log.warning(
                "track: %s has no document %s any more; starting a new, empty journal",
                self.journal_path,
                self.path,
            )
            self._new_journal()
            journal = self._journal
        held = None
        if journal is not None:
            held = {"id": journal.id, "offset": journal.position}
        self._write(self.path, held)
        self._held = held
        self._appended = False
        if journal is not None and self._journal_bytes() > 0:
            self._new_journal()

    # ---- commit and close ---------------------------------------------------------------

    @property
    def folder(self) -> str:
        """The folder of the store's file: spill files and other side files go beside it."""
        return os.path.dirname(self.path)

    def _artifact_blobs(self) -> FolderBlobs:
        """Artifact bytes go in ``?artifact_root=``, else ``<store file>.artifacts/`` beside it."""
        if self.artifact_root is not None:
            return FolderBlobs(self.artifact_root, owner=os.path.realpath(self.path))
        return FolderBlobs(self.path + ".artifacts")

    def collect_artifacts(self) -> tuple[int, int]:
        """Remove unreferenced contents; in lazy mode the pending changes are written first.

        Only what the file holds may decide what goes: a deletion still in memory that a
        crash would lose must not have removed the bytes its trial names.
        """
        with self._transaction(write=True):
            if not self.eager:
                try:
                    self._compact()
                except BaseException:
                    self._forget()
                    raise
            return super().collect_artifacts()

    def defer_commits(self) -> None:
        """Switch to lazy mode (``eager=False``): writes stay in memory until :meth:`commit`."""
        self.eager = False

    def commit(
        self, file_name_override: str | None = None, compact: bool = False, **kwargs: Any
    ) -> None:
        """Make every write durable; ``compact=True`` also folds the journal into the document.

        Every flush is already durable in the journal, so in the default eager mode a plain
        commit does nothing (a track server calls it after every group of writes).
        ``compact=True`` (what ``TrackClient.save()`` asks) rewrites the document with
        everything, so that ``json.load`` of the file sees it all. ``file_name_override``
        writes the whole state to another file instead (a copy, without journal). In lazy
        mode (``eager=False``) every commit writes the document.
        """
        target = None if file_name_override is None else os.path.abspath(file_name_override)
        if target is not None and target != self.path:
            with self._transaction(write=False):
                self._write(target, None)
            return
        if self.eager and not compact and target is None:  # naming its own file compacts too
            return
        with self._transaction(write=True):
            try:
                if not self.eager or self._journal_bytes() > 0:
                    self._compact()
            except BaseException:
                self._forget()
                raise

    def close(self) -> None:
        """Compact what this store journaled (or write pending lazy changes); release the lock."""
        if self._lock_file.closed:
            return
        try:
            if self._appended or not self.eager:
                self.commit(compact=True)
        finally:
            self._lock_file.close()

    # ---- encoding -----------------------------------------------------------------------

    def _decode(self, data: bytes) -> dict[str, Any]:
        try:
            state = json.loads(data)
        except ValueError as error:
            raise UnusableStore(f"{self.path} is not a track store file: {error}") from None
        if not isinstance(state, dict) or "trials" not in state:
            raise UnusableStore(f"{self.path} is not a track store file")
        return state

    def _encode(self, held: dict[str, Any] | None) -> bytes:
        state = self._state
        cache = self._encoded_trials
        lines = []
        for uid, doc in state["trials"].items():
            encoded = cache.get(uid)
            if encoded is None:
                encoded = cache[uid] = _EncodedTrial(doc)
            lines.append(f"{json.dumps(uid)}: {encoded.text(doc)}")
        head = ",\n".join(
            f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
            for key, value in (
                ("projects", state["projects"]),
                ("groups", state["groups"]),
                ("writers", state["writers"]),
                ("requests", state["requests"]),
                ("journal", held),
            )
        )
        text = (
            f'{{"format": {json.dumps(state.get("format"))},\n{head},\n"trials": {{\n'
            + ",\n".join(lines)
            + "\n}}\n"
        )
        return text.encode("utf-8")

    def _write(self, path: str, held: dict[str, Any] | None) -> None:
        _write_atomically(path, self._encode(held))
        if path == self.path:
            stat = os.stat(path)
            self._signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            self._document_size = stat.st_size


def _write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the folder."""
    folder = os.path.dirname(path)
    descriptor, temporary = tempfile.mkstemp(prefix=".track-", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _journal_line(uid: str, batch: TrialBatch) -> tuple[bytes, dict[str, str]]:
    """A batch as one journal line, and the encoded points of each series (for the document)."""
    chunks = {name: _points_text(points) for name, points in batch.series.items()}
    series = ", ".join(
        f"{json.dumps(name, ensure_ascii=False)}: [{text}]" for name, text in chunks.items()
    )
    rest = json.dumps(
        {
            "writer": batch.writer,
            "seq": batch.seq,
            "metadata": batch.metadata,
            "tags": batch.tags,
            "chronos": batch.chronos,
            "status": batch.status,
            "errors": batch.errors,
        },
        ensure_ascii=False,
    )
    line = f'{{"trial": {json.dumps(uid)}, "batch": {{"series": {{{series}}}, {rest[1:]}}}\n'
    return line.encode("utf-8"), chunks


class _EncodedTrial:
    """A trial's JSON text kept in pieces, so a compaction encodes only the points it adds.

    Metrics only ever grow by appending, so each series is kept as a list of encoded chunks
    (``[s,v,t],[s,v,t]``); the rest of the document (``head``) is encoded again only when a
    batch changed it.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self.head: str | None = None
        self.series: dict[str, list[str]] = {}
        for name, points in doc.get("metrics", {}).items():
            self.series[name] = [_points_text(points)] if points else []

    def add(self, batch: TrialBatch, chunks: dict[str, str]) -> None:
        """Account for an applied batch whose series encode as ``chunks``."""
        for name, text in chunks.items():
            if text:
                self.series.setdefault(name, []).append(text)
            else:
                self.series.setdefault(name, [])
        if batch.metadata or batch.tags or batch.chronos or batch.status or batch.errors:
            self.head = None

    def text(self, doc: dict[str, Any]) -> str:
        """The trial document as JSON."""
        if self.head is None:
            rest = {k: v for k, v in doc.items() if k != "metrics"}
            self.head = json.dumps(rest, ensure_ascii=False)[:-1]
        metrics = ", ".join(
            f"{json.dumps(name, ensure_ascii=False)}: [{','.join(chunks)}]"
            for name, chunks in self.series.items()
        )
        return f'{self.head}, "metrics": {{{metrics}}}}}'


def _points_text(points: list[Any]) -> str:
    return json.dumps(points, ensure_ascii=False)[1:-1]


#: the seeds' helpers of this module: name -> the :mod:`track.compat` module defining it
_COMPAT = {
    **dict.fromkeys(
        (
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
        ),
        "track.compat.queries",
    ),
    **dict.fromkeys(
        (
            "ConcurrentWrite",
            "LockFileRemover",
            "MultiLock",
            "ThreadLock",
            "lock_atomic_write",
            "lock_guard",
            "lock_read",
            "lock_write",
            "make_lock",
        ),
        "track.compat.locks",
    ),
}
__getattr__ = lazy_aliases(__name__, _COMPAT)
