"""The write pipeline: log calls append to a memory buffer; one thread writes batches to the store.

A log call costs a lock, a tuple and an append: it never waits on disk, network or a store
lock, unless the buffer is full (``max_points``/``max_bytes``), where it blocks until the
flusher makes room (``on_full="block"``, the default) or drops the oldest buffered points with
a counted warning (``on_full="drop"``).

Every ``flush_interval`` seconds, or sooner when asked, the flusher drains the buffer, groups
the entries by trial into :class:`~track.persistence.protocol.TrialBatch` objects (in logging
order) and hands each to ``Protocol.log_trial_batch``. A batch that fails is retried with
backoff, never dropped; each carries (writer, seq) so that a store applies it at most once.

Durability: with ``durability="batch"``, a SIGKILL loses what was logged after the start of
the last flush that completed, at most one flush interval plus one flush; with ``"sync"`` each
log call returns once its point is committed. Normal exit, exceptions and SIGTERM/SIGINT (through the trial's signal
handler) flush everything; at interpreter exit the flush waits at most ``exit_timeout``
seconds, then writes what is left to a spill file (``track-spill-<writer>.jsonl``, replayed by
:func:`replay_spill` or ``track replay``) and says so on stderr.

With ``writer="process"`` (opt-in, see :mod:`track.writer`) the buffer is the same, but a
thread of the training process only hands the entries over to a writer process every
``handover_interval`` seconds; the writer process runs an ordinary :class:`WritePipeline`.

A forked child (``os.fork()``, a DataLoader worker) inherits its parent's pipelines: there they
hold the parent's entries, which are the parent's to write, so the child drops them, writes
nothing at exit, and a log call on them raises :class:`~track.errors.TrackError`.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

from track.errors import TrackError, UnusableStore
from track.persistence.protocol import Protocol, TrialBatch, WriteRefused
from track.retry import retry
from track.serialization import trial_from_doc
from track.structure import Trial
from track.utils.memory import gc_paused

__all__ = [
    "Marker",
    "PipelineOptions",
    "ReplayReport",
    "Summary",
    "WritePipeline",
    "append_spill",
    "feed",
    "replay_spill",
]

log = logging.getLogger("track.pipeline")

METRICS, METADATA, TAGS, CHRONOS, STATUS, FLUSH, RUNNING, TRIAL = range(8)
#: Errors by which a store says the batch itself cannot be stored (it names a trial the store
#: does not hold, or the store lacks a method the batch needs): retrying cannot help, so such a
#: batch goes to the spill file instead of blocking the rest. Any other error, a ``TypeError``
#: or ``KeyError`` from a bug inside a store included, is retried with backoff.
PERMANENT_ERRORS = (WriteRefused, NotImplementedError)
#: Rough in-memory size of one buffered metric point, for the ``max_bytes`` limit.
POINT_BYTES = 120


@dataclass(frozen=True)
class PipelineOptions:
    """How the pipeline trades latency, memory and durability (see the module docstring)."""

    flush_interval: float = 0.5
    durability: str = "batch"
    max_points: int = 1_000_000
    max_bytes: int = 256 * 1024 * 1024
    on_full: str = "block"
    heartbeat_interval: float = 10.0
    exit_timeout: float = 10.0
    spill_dir: str | None = None
    #: seconds between system-metric samples of a running trial (track.system); 0 disables
    system_metrics_interval: float = 10.0
    #: "thread" (write from a thread of this process) or "process" (hand the entries over to a
    #: writer process: see track.writer)
    writer: str = "thread"
    #: seconds between hand-overs to the writer process (``writer="process"``)
    handover_interval: float = 0.01

    def __post_init__(self) -> None:
        if self.durability not in ("batch", "sync"):
            raise ValueError(f"durability must be 'batch' or 'sync', not {self.durability!r}")
        if self.on_full not in ("block", "drop"):
            raise ValueError(f"on_full must be 'block' or 'drop', not {self.on_full!r}")
        if self.flush_interval <= 0 or self.heartbeat_interval <= 0:
            raise ValueError("flush_interval and heartbeat_interval must be positive")
        if self.system_metrics_interval < 0:
            raise ValueError("system_metrics_interval must be positive, or 0 to disable")
        if self.writer not in ("thread", "process"):
            raise ValueError(f"writer must be 'thread' or 'process', not {self.writer!r}")
        if self.handover_interval <= 0:
            raise ValueError("handover_interval must be positive")


_live: weakref.WeakSet[WritePipeline] = weakref.WeakSet()


class WritePipeline:
    """Buffers one client's writes and flushes them to its store from a background thread.

    The caller's side takes no lock: appending to a deque and reading its length are atomic.
    The buffer limit is enforced on entries, converted from ``max_points``/``max_bytes`` with
    the average points per entry of the last flush; entries being written count against it.
    ``flush`` appends a marker and waits until the flusher has written everything before it.
    """

    def __init__(self, protocol: Protocol, options: PipelineOptions | None = None) -> None:
        self.protocol = protocol
        self.options = options or PipelineOptions()
        self.writer = uuid.uuid4().hex
        self.dropped_points = 0
        self._sync = self.options.durability == "sync"
        self._entries: deque[tuple[Any, ...]] = deque()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        # One limit for both options: a metric point (or another entry) counts POINT_BYTES.
        self._limit = max(1, min(self.options.max_points, self.options.max_bytes // POINT_BYTES))
        self._entry_limit = self._limit
        self._room_left = self._limit
        self._seq = 0
        self._in_flight: list[tuple[Trial, TrialBatch]] = []
        self._running: dict[str, list[Any]] = {}
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="track-flusher", daemon=True)
        self._thread.start()
        _live.add(self)

    # ---- the caller's side --------------------------------------------------------------

    def log_metrics(self, trial: Trial, step: Any, values: dict[str, Any], when: float) -> None:
        """Buffer metric values (already validated) logged at ``when``."""
        entries = self._entries
        entries.append((METRICS, trial, step, values, when))
        if len(entries) >= self._room_left:
            self._make_room()
        if self._sync:
            self.flush()

    def put(self, kind: int, trial: Trial, *payload: Any) -> None:
        """Buffer a metadata, tags, chronos or status entry."""
        self._entries.append((kind, trial, *payload))
        if self._sync or kind == STATUS:
            self._wake.set()
        if self._sync:
            self.flush()

    def _make_room(self) -> None:
        self._wake.set()
        with self._lock:
            if self.options.on_full == "drop":
                self._drop_oldest()
                return
            while len(self._entries) >= self._room_left:
                if not self._thread.is_alive():
                    raise RuntimeError("track: the flusher thread died; see the error above")
                self._room.wait(0.5)

    def _drop_oldest(self) -> None:
        dropped = 0
        kept: list[tuple[Any, ...]] = []
        while self._entries and len(self._entries) >= self._room_left:
            entry = self._entries.popleft()
            if entry[0] == METRICS:
                dropped += len(entry[3])
            else:
                kept.append(entry)
        self._entries.extendleft(reversed(kept))
        if dropped:
            first = self.dropped_points == 0
            self.dropped_points += dropped
            if first:
                log.warning(
                    "buffer full (%d points): dropping the oldest points (on_full='drop'); "
                    "the count is in pipeline.dropped_points",
                    self._limit,
                )

    def running(self, trial: Trial, is_running: bool) -> None:
        """Start or stop writing heartbeats for ``trial``."""
        with self._lock:
            if is_running:
                self._running[trial.uid] = [trial, time.time()]
            else:
                self._running.pop(trial.uid, None)

    def mark(self, marker: Marker, now: bool = False) -> None:
        """Call ``marker.set()`` once everything buffered before it is written; ``now``: soon."""
        self._entries.append((FLUSH, None, marker))
        if now:
            self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything logged so far and wait for it; False if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        written = threading.Event()
        self.mark(written, now=True)
        while not written.wait(0.1):
            if not self._thread.is_alive():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Flush, stop the flusher, and spill what could not be written in ``timeout`` seconds."""
        timeout = self.options.exit_timeout if timeout is None else timeout
        flushed = self.flush(timeout)
        self._closed = True
        self._wake.set()
        if not flushed:
            self._spill()
        _live.discard(self)
        return flushed

    def _forget_in_child(self, parent: int) -> None:
        """In a forked child: drop the parent's entries, refuse new ones, do nothing at exit."""
        self._closed = True
        self._lock = threading.Lock()  # a parent's thread may have held it at the fork
        self._room = threading.Condition(self._lock)
        self._running = {}
        self._entries = _ParentsBuffer(parent)

    # ---- the flusher's side -------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.options.flush_interval)
            self._wake.clear()
            self._beat()
            self._drain()

    def _beat(self) -> None:
        now = time.time()
        interval = self.options.heartbeat_interval
        with self._lock:
            due = [entry for entry in self._running.values() if now - entry[1] >= interval]
        for entry in due:
            entry[1] = now
            self._entries.append((METADATA, entry[0], {"heartbeat": now}))

    def _drain(self) -> None:
        count = len(self._entries)
        if not count:
            return
        popleft = self._entries.popleft
        with self._lock:
            taken = [popleft() for _ in range(count)]
            self._room_left = max(1, self._entry_limit - count)
        with gc_paused():
            batches, units, markers = self._group(taken)
        self._in_flight = batches
        for trial, batch in batches:
            self._write(trial, batch)
        self._in_flight = []
        carrying = count - len(markers)
        if carrying:
            self._entry_limit = max(1, int(self._limit * carrying / max(units, 1)))
        with self._lock:
            self._room_left = self._entry_limit
            self._room.notify_all()
        for marker in markers:
            marker.set()

    def _group(
        self, entries: list[tuple[Any, ...]]
    ) -> tuple[list[tuple[Trial, TrialBatch]], int, list[Marker]]:
        """One batch per trial in logging order, the units the entries held, the flush markers."""
        units = 0
        markers: list[Marker] = []
        by_object: dict[int, tuple[Trial, TrialBatch]] = {}
        by_uid: dict[str, tuple[Trial, TrialBatch]] = {}
        for entry in entries:
            kind, trial = entry[0], entry[1]
            if kind == FLUSH:
                markers.append(entry[2])
                continue
            if kind == RUNNING:  # the writer process's hand-over entry: no write of its own
                continue
            pair = by_object.get(id(trial))
            if pair is None:
                pair = by_uid.get(trial.uid)
                if pair is None:
                    pair = by_uid[trial.uid] = (trial, TrialBatch(writer=self.writer))
                by_object[id(trial)] = pair
            batch = pair[1]
            if kind == METRICS:
                _, _, step, values, when = entry
                units += len(values)
                series = batch.series
                for name, value in values.items():
                    points = series.get(name)
                    if points is None:
                        series[name] = [(step, value, when)]
                    else:
                        points.append((step, value, when))
                continue
            units += 1
            if kind == METADATA:
                batch.metadata.update(entry[2])
            elif kind == TAGS:
                batch.tags.update(entry[2])
            elif kind == CHRONOS:
                batch.chronos.update({name: agg.to_json() for name, agg in entry[2].items()})
            else:
                batch.status = entry[2]
                if entry[3]:
                    batch.errors.append(entry[3])
        for _, batch in by_uid.values():
            self._seq += 1
            batch.seq = self._seq
        return list(by_uid.values()), units, markers

    def _write(self, trial: Trial, batch: TrialBatch) -> None:
        failures = 0

        def failed(error: Exception, count: int) -> None:
            nonlocal failures
            failures = count
            if count == 1 or count % 20 == 0:
                log.warning("store write failed (%s: %s); retrying", type(error).__name__, error)

        try:
            retry(
                lambda: self.protocol.log_trial_batch(trial, batch),
                transient=lambda error: not isinstance(error, PERMANENT_ERRORS),
                initial=0.05,
                maximum=2.0,
                stop=lambda: self._closed,
                on_failure=failed,
            )
        except PERMANENT_ERRORS as error:
            path = self._write_spill([(trial, batch)])
            log.error(
                "the store refused a batch for trial %s (%s: %s); retrying cannot help, so "
                "it was saved to %s (replay with: track replay %s --store URI)",
                trial.uid,
                type(error).__name__,
                error,
                path,
                path,
            )
            return
        if failures:
            log.warning("store write succeeded after %d retries", failures)

    # ---- spill --------------------------------------------------------------------------

    def spill_path(self) -> str:
        """Where unsent batches go: ``spill_dir``, else the store's folder, else the working one."""
        folder = self.options.spill_dir
        if folder is None:
            folder = self.protocol.folder or os.getcwd()
        return os.path.join(folder, f"track-spill-{self.writer}.jsonl")

    def _spill(self) -> None:
        with self._lock:
            pending = list(self._in_flight)
            pending.extend(self._group(list(self._entries))[0])
            self._entries.clear()
        if not pending:
            return
        path = self._write_spill(pending)
        print(
            f"track: the store did not take every write within {self.options.exit_timeout}s; "
            f"{len(pending)} unsent batches were saved to {path} (replay with: track replay "
            f"{path} --store URI)",
            file=sys.stderr,
        )

    def _write_spill(self, pending: list[tuple[Trial, TrialBatch]]) -> str:
        path = self.spill_path()
        append_spill(path, pending)
        return path


class Marker(TypingProtocol):
    """What :meth:`WritePipeline.mark` calls once the entries before it are written."""

    def set(self) -> None:
        """Called on the flusher thread; must not raise."""


class _ParentsBuffer(deque[tuple[Any, ...]]):
    """A forked child's stand-in for a buffer inherited from its parent: it refuses entries."""

    def __init__(self, parent: int) -> None:
        super().__init__()
        self.parent = parent

    def append(self, entry: tuple[Any, ...]) -> None:
        """Refuse: the trial's pipeline writes for the parent process only."""
        raise TrackError(
            f"this trial's logger belongs to process {self.parent}; create a TrackClient in "
            f"the child (process {os.getpid()}) to log from it"
        )


class Summary:
    """A timer's summary already encoded (``to_json``), as a hand-over carries it."""

    def __init__(self, doc: Any) -> None:
        self.doc = doc

    def to_json(self, short: bool = False) -> Any:
        """The summary as it was encoded."""
        return self.doc


def feed(
    pipeline: WritePipeline,
    items: list[tuple[Any, ...]],
    trials: dict[int, Trial],
    flushed: Callable[[int], Marker],
) -> None:
    """Buffer hand-over ``items`` (see track.writer) in ``pipeline``, in their order.

    ``trials`` maps a hand-over's trial keys to trials; a trial item adds one it lacks.
    ``flushed(flush_id)`` gives the marker to set once what came before that flush is written.
    """
    for item in items:
        kind = item[0]
        if kind == METRICS:
            pipeline.log_metrics(trials[item[1]], item[2], item[3], item[4])
        elif kind == TRIAL:
            if item[1] not in trials:
                trials[item[1]] = trial_from_doc(item[2])
        elif kind == FLUSH:
            pipeline.mark(flushed(item[1]), now=True)
        elif kind == RUNNING:
            pipeline.running(trials[item[1]], item[2])
        elif kind == CHRONOS:
            summaries = {name: Summary(doc) for name, doc in item[2].items()}
            pipeline.put(CHRONOS, trials[item[1]], summaries)
        else:
            pipeline.put(kind, trials[item[1]], *item[2:])


def append_spill(path: str, pending: list[tuple[Trial, TrialBatch]]) -> None:
    """Append batches to a spill file, created readable by its owner only (mode 0600).

    A spill file holds what was logged, so it gets the protection a store file would.
    """
    lines = "".join(
        json.dumps({"trial": trial.uid, "batch": batch.to_doc()}) + "\n" for trial, batch in pending
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as file:
        file.write(lines)


@dataclass
class ReplayReport:
    """What :func:`replay_spill` did with each batch of a spill file.

    ``refused`` holds one message per batch the store refused; those batches, and every
    batch after a store error that stopped the replay (``stopped``), stay in the spill file.
    """

    applied: int = 0
    already_present: int = 0
    refused: list[str] = field(default_factory=list)
    stopped: str | None = None
    kept: int = 0


def replay_spill(path: str, protocol: Protocol) -> ReplayReport:
    """Apply a spill file's batches to ``protocol``, each at most once (by writer and seq).

    The file is rewritten to hold only what could not be applied, and removed when nothing
    is left. A batch the store refuses (:data:`PERMANENT_ERRORS`) is kept and the replay
    goes on, and so is a line that is not a spill record (e.g. cut short by a crash); any
    other error stops the replay, keeping that batch and the rest. A file whose first line is
    not a spill record raises :class:`~track.errors.UnusableStore` and is left as it is.
    """
    report = ReplayReport()
    kept: list[str] = []
    with open(path, encoding="utf-8") as file:
        lines = [line for line in file if line.strip()]
    for index, line in enumerate(lines):
        if report.stopped is not None:
            kept.append(line)
            continue
        try:
            record = json.loads(line)
            trial = _spilled_trial(record["trial"])
            batch = TrialBatch.from_doc(record["batch"])
        except (ValueError, KeyError, TypeError) as error:
            if index == 0:
                raise UnusableStore(f"{path} is not a track spill file ({error})") from None
            report.refused.append(f"line {index + 1}: not a spill record ({error})")
            kept.append(line)
            continue
        try:
            applied = protocol.log_trial_batch(trial, batch)
        except PERMANENT_ERRORS as error:
            report.refused.append(f"trial {trial.uid}: {type(error).__name__}: {error}")
            kept.append(line)
            continue
        except Exception as error:
            report.stopped = f"{type(error).__name__}: {error} (at batch {index + 1})"
            kept.append(line)
            continue
        if applied is False:
            report.already_present += 1
        else:
            report.applied += 1
    report.kept = len(kept)
    _rewrite(path, kept)
    return report


def _spilled_trial(uid: str) -> Trial:
    hash_, revision = uid.rsplit("_", 1)
    trial = Trial(_hash=hash_)
    trial.revision = int(revision)
    return trial


def _rewrite(path: str, lines: list[str]) -> None:
    """Replace the spill file with ``lines`` atomically; remove it when there are none."""
    if not lines:
        os.unlink(path)
        return
    temporary = f"{path}.tmp-{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.writelines(line if line.endswith("\n") else line + "\n" for line in lines)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


@atexit.register
def _flush_all_at_exit() -> None:
    for pipeline in list(_live):
        pipeline.close()


def _forget_parent_pipelines() -> None:
    """After ``fork()``, in the child: the inherited pipelines are the parent's (see above)."""
    parent = os.getppid()
    for pipeline in list(_live):
        pipeline._forget_in_child(parent)
    _live.clear()


os.register_at_fork(after_in_child=_forget_parent_pipelines)
