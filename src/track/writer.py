"""The writer process: the training process hands its log entries over; this process writes them.

With ``writer="process"`` (``TRACK_WRITER=process``; opt-in) a client starts ``python -m
track.writer`` (a fresh interpreter, never a fork of a process that may hold CUDA or threads, in
a session of its own so that a terminal's Ctrl-C reaches only the trainer) and talks to it over
two pipes:

* The trainer's log calls append to the same buffer as in thread mode. A hand-over thread takes
  the buffered entries every ``handover_interval`` seconds (at once for a status entry or a
  flush), replaces each trial by a small key (sending the trial's document the first time),
  each timer by its summary and each flush by a number, ``marshal``s the list (C code, no Python
  loop per point) and writes it as one length-prefixed frame to the writer's stdin. marshal is
  used only on this pipe between a process and the child it spawned, never on a network or a
  file another user can write.
* The writer (:func:`main`) builds the store and forwarders as the client does
  (:func:`open_store`) and feeds every frame to an ordinary thread
  :class:`~track.pipeline.WritePipeline`: grouping, retries, exactly-once ``(writer, seq)``
  batches, spill files and heartbeats are that code. On its stdout it acknowledges each frame
  once it is committed, and each flush once everything before it is.
* When the trainer exits or is killed (even by SIGKILL) the writer reads the end of its stdin,
  closes its pipeline (writes everything it received, spills what the store refuses within
  ``exit_timeout``, saying so on stderr) and exits 0. So a ``kill -9`` of the trainer loses only
  what it had not handed over yet: at most about one ``handover_interval`` of logging.
* The trainer keeps each frame until the writer acknowledges it. If the writer process dies (a
  bug, the OOM killer), the trainer logs an error and writes the unacknowledged frames and
  everything after them itself, from a thread pipeline on a store object of its own; a batch
  the writer was committing at that moment may then be stored twice.

The writer process cannot write for a store given as an object, an in-memory store, a scheme
registered in code (a new interpreter does not see it), forwarders given as objects, or
``durability="sync"``; :func:`process_refusal` says which, and the client then writes from a
thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import marshal
import os
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

from track.forward import Forwarder, ForwardingProtocol, make_forwarders
from track.persistence import STORES, get_protocol
from track.persistence.protocol import Protocol
from track.persistence.utils import parse_uri
from track.pipeline import (
    CHRONOS,
    FLUSH,
    METRICS,
    RUNNING,
    TRIAL,
    Marker,
    PipelineOptions,
    WritePipeline,
    _live,
    feed,
)
from track.serialization import trial_to_doc
from track.structure import Trial

__all__ = ["ProcessPipeline", "WriterSpec", "main", "open_store", "process_refusal"]

log = logging.getLogger("track.writer")

#: a frame's length, before the frame (both directions use whole frames or fixed records)
LENGTH = struct.Struct("<Q")
#: an acknowledgement on the writer's stdout: (COMMITTED, frame number) or (FLUSHED, flush id)
ACK = struct.Struct("<BQ")
COMMITTED, FLUSHED = 0, 1
#: the hand-over pipe's size: ~1 s of K=3 logging at 18,000 steps/s, the most Linux grants a user
PIPE_BYTES = 1024 * 1024


def open_store(
    backend: str | Protocol,
    forward: str | Sequence[str | Forwarder] | None = None,
    forward_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Protocol:
    """The store a URI names (or ``backend`` itself), wrapped to feed the named forwarders.

    The client (thread mode), the writer process and a trainer taking over from a dead writer
    all build their writing store here, so they build the same one.
    """
    protocol = backend if isinstance(backend, Protocol) else get_protocol(backend)
    forwarders = make_forwarders(forward, forward_options)
    return ForwardingProtocol(protocol, forwarders) if forwarders else protocol


@dataclass(frozen=True)
class WriterSpec:
    """What the writer process needs to build the same store as the client: data only."""

    uri: str
    forward: list[str] = field(default_factory=list)
    forward_options: dict[str, dict[str, Any]] = field(default_factory=dict)


def process_refusal(
    backend: str | Protocol,
    forward: Sequence[str | Forwarder],
    forward_options: Mapping[str, Mapping[str, Any]] | None,
    options: PipelineOptions,
) -> str | None:
    """Why a writer process cannot write for this client (None when it can).

    ``forward`` is the parsed forward spec (names and objects).
    """
    if not isinstance(backend, str):
        return "the store was given as an object, not a URI"
    if options.durability == "sync":
        return "durability='sync' commits each point before the log call returns"
    if any(isinstance(item, Forwarder) for item in forward):
        return "a forwarder was given as an object"
    scheme = parse_uri(backend).scheme.lower()
    if scheme == "ephemeral":
        return "an in-memory store lives in this process only"
    if not _new_interpreter_sees(scheme):
        return f"the store scheme {scheme!r} was registered in code, which a new interpreter lacks"
    try:
        json.dumps(forward_options or {})
    except (TypeError, ValueError) as error:
        return f"the forward options are not plain data ({error})"
    return None


def _new_interpreter_sees(scheme: str) -> bool:
    """Whether a fresh interpreter builds ``scheme`` with this factory (built-in or plugin)."""
    factory = STORES.get(scheme)
    if str(getattr(factory, "__module__", "")).startswith("track."):
        return True  # a built-in store (scanning the installed plugins would cost ~40 ms)
    plugins = [p for p in entry_points(group="track.stores") if p.name.lower() == scheme]
    return bool(plugins) and plugins[0].load() is factory


class _Trivial:
    """A marker with nothing to do (a flush already answered)."""

    def set(self) -> None:
        """Nothing to tell."""


class ProcessPipeline(WritePipeline):
    """The training process's side: buffers as :class:`WritePipeline`, hands over to a writer.

    ``protocol`` is the client's own store (read by the client, not written through here);
    the writer process opens the store that ``spec`` names. ``handed_over`` counts the metric
    points written to the writer's pipe so far.
    """

    def __init__(self, protocol: Protocol, options: PipelineOptions, spec: WriterSpec) -> None:
        self.spec = spec
        self.handed_over = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "track.writer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
            env=_same_track_environment(),
        )
        self._pipe: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        with contextlib.suppress(OSError, AttributeError):  # Linux only: a bigger pipe
            fcntl.fcntl(self._pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._acks: IO[bytes] = self.process.stdout  # type: ignore[assignment]
        self._frames: deque[tuple[int, bytes, int]] = deque()  # (number, frame, entries) unacked
        self._unacked_entries = 0
        self._frame_number = 0
        self._keys: dict[str, int] = {}
        self._trials: dict[int, Trial] = {}
        self._flushes: dict[int, Marker] = {}
        self._flush_id = 0
        self._fallback: WritePipeline | None = None
        self._writer_gone = False
        self._closing = False
        config = json.dumps({"spec": asdict(spec), "options": asdict(options)}).encode()
        self._send(LENGTH.pack(len(config)) + config)
        super().__init__(protocol, options)
        self._reader = threading.Thread(target=self._read_acks, name="track-acks", daemon=True)
        self._reader.start()

    # ---- the caller's side --------------------------------------------------------------

    def running(self, trial: Trial, is_running: bool) -> None:
        """Tell the writer to start or stop heartbeats for ``trial`` (kept for a take-over)."""
        super().running(trial, is_running)
        self._entries.append((RUNNING, trial, is_running))

    def close(self, timeout: float | None = None) -> bool:
        """Flush, end the writer's input, and wait for it to exit (at most ``timeout``).

        A writer still busy then finishes on its own (and spills what its store refuses);
        entries not handed over by then are spilled here.
        """
        timeout = self.options.exit_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        flushed = self.flush(timeout)
        self._closed = True
        self._wake.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        _live.discard(self)
        if self._fallback is not None:
            return self._fallback.close(max(0.0, deadline - time.monotonic())) and flushed
        self._closing = True
        self._pipe.close()
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(
                f"track: the writer process {self.process.pid} is still writing after "
                f"{timeout}s; it finishes on its own and spills what its store does not take",
                file=sys.stderr,
            )
            flushed = False
        if not flushed:
            self._spill()
        return flushed

    def _forget_in_child(self, parent: int) -> None:
        """In a forked child: also close the pipes, so the writer sees the parent's end."""
        super()._forget_in_child(parent)
        self._closing = True
        self._pipe.close()
        self._acks.close()

    # ---- the hand-over thread -----------------------------------------------------------

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.options.handover_interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        if self._writer_gone and self._fallback is None:
            self._take_over()
        count = len(self._entries)
        if not count:
            return
        popleft = self._entries.popleft
        with self._lock:
            taken = [popleft() for _ in range(count)]
        if self._fallback is not None:
            _hand_to(self._fallback, taken)
            with self._lock:
                self._room_left = self._entry_limit
                self._room.notify_all()
            return
        items, units, points = self._encode(taken)
        self._frame_number += 1
        try:
            frame = marshal.dumps((self._frame_number, items))
        except ValueError:  # a str/int/float subclass (numpy.str_, torch's TorchVersion): as JSON
            frame = marshal.dumps((self._frame_number, json.loads(json.dumps(items))))
        with self._lock:
            self._frames.append((self._frame_number, frame, count))
            self._unacked_entries += count
            if units:
                self._entry_limit = max(1, int(self._limit * count / units))
            self._room_left = max(1, self._entry_limit - self._unacked_entries)
        try:
            self._send(LENGTH.pack(len(frame)) + frame)
        except OSError:  # the writer is gone (BrokenPipeError): the frame is still kept
            self._take_over()
            return
        self.handed_over += points

    def _encode(self, taken: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], int, int]:
        """The entries as plain data for marshal, the units they hold, and their metric points."""
        items: list[tuple[Any, ...]] = []
        append = items.append
        points = 0
        units = 0
        keys = self._keys
        by_object: dict[int, int] = {}
        for entry in taken:
            kind = entry[0]
            if kind == FLUSH:
                self._flush_id += 1
                self._flushes[self._flush_id] = entry[2]
                append((FLUSH, self._flush_id))
                continue
            trial = entry[1]
            key = by_object.get(id(trial))
            if key is None:
                key = keys.get(trial.uid)
                if key is None:
                    key = keys[trial.uid] = len(keys)
                    self._trials[key] = trial
                    append((TRIAL, key, {**trial_to_doc(trial), "metrics": {}}))
                by_object[id(trial)] = key
            if kind == METRICS:
                points += len(entry[3])
                append((METRICS, key, entry[2], entry[3], entry[4]))
            elif kind == CHRONOS:
                units += 1
                append((CHRONOS, key, {name: agg.to_json() for name, agg in entry[2].items()}))
            else:
                units += 1
                append((kind, key, *entry[2:]))
        return items, units + points, points

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._pipe.write(view)
            view = view[written or 0 :]

    def _take_over(self) -> None:
        """The writer died: write its unacknowledged frames and what follows from here."""
        self._reader.join(5.0)  # take the acknowledgements it sent before dying into account
        try:
            code: int | None = self.process.wait(1.0)
        except subprocess.TimeoutExpired:
            code = None
        fallback = WritePipeline(
            open_store(self.spec.uri, self.spec.forward, self.spec.forward_options),
            replace(self.options, writer="thread"),
        )
        _live.discard(fallback)  # closed by this pipeline's close
        with self._lock:
            frames = list(self._frames)
            self._frames.clear()
            self._unacked_entries = 0
            running = [entry[0] for entry in self._running.values()]
        log.error(
            "track: the writer process %d stopped (exit code %s) while the trainer runs; this "
            "process writes from now on, starting with the %d hand-overs the writer had not "
            "committed (a batch it was committing at that moment may be stored twice)",
            self.process.pid,
            code,
            len(frames),
        )
        for trial in running:
            fallback.running(trial, True)
        for _, frame, _ in frames:
            items = marshal.loads(frame)[1]
            feed(
                fallback,
                items,
                self._trials,
                lambda flush_id: self._flushes.pop(flush_id, _Trivial()),
            )
        self._fallback = fallback

    # ---- the acknowledgement reader -----------------------------------------------------

    def _read_acks(self) -> None:
        while (record := _read_exactly(self._acks, ACK.size)) is not None:
            kind, number = ACK.unpack(record)
            if kind == FLUSHED:
                marker = self._flushes.pop(number, None)
                if marker is not None:
                    marker.set()
                continue
            with self._lock:
                while self._frames and self._frames[0][0] <= number:
                    self._unacked_entries -= self._frames.popleft()[2]
                self._room_left = max(1, self._entry_limit - self._unacked_entries)
                self._room.notify_all()
        if self._closing:
            return
        self._writer_gone = True
        self._wake.set()


def _same_track_environment() -> dict[str, str]:
    """This environment, with this track first on the path: the writer runs the trainer's code."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


def _hand_to(pipeline: WritePipeline, entries: list[tuple[Any, ...]]) -> None:
    """Buffer the trainer's own entries in a thread pipeline (after a take-over)."""
    for entry in entries:
        kind = entry[0]
        if kind == METRICS:
            pipeline.log_metrics(*entry[1:])
        elif kind == FLUSH:
            pipeline.mark(entry[2], now=True)
        elif kind == RUNNING:
            pipeline.running(entry[1], entry[2])
        else:
            pipeline.put(kind, entry[1], *entry[2:])


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes from ``stream``; None at its end (a record cut short included)."""
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


# ---- the writer process -------------------------------------------------------------------


class _Ack:
    """Tells the trainer, from the writer's flusher thread, that a frame or flush is written."""

    def __init__(self, descriptor: int, lock: threading.Lock, kind: int, number: int) -> None:
        self.descriptor = descriptor
        self.lock = lock
        self.kind = kind
        self.number = number

    def set(self) -> None:
        """Send the acknowledgement; a trainer gone already needs none."""
        with self.lock, contextlib.suppress(OSError):
            os.write(self.descriptor, ACK.pack(self.kind, self.number))


def main() -> int:
    """Run the writer: read the configuration frame, then frames until the trainer is gone."""
    logging.basicConfig(format="track writer: %(levelname)s %(name)s: %(message)s")
    acks = os.dup(1)
    os.dup2(2, 1)  # a forwarder's prints must not reach the acknowledgement pipe
    source = sys.stdin.buffer
    first = _read_frame(source)
    if first is None:
        return 0
    config = json.loads(first)
    spec = WriterSpec(**config["spec"])
    options = replace(PipelineOptions(**config["options"]), writer="thread", on_full="block")
    protocol = open_store(spec.uri, spec.forward, spec.forward_options)
    pipeline = WritePipeline(protocol, options)
    lock = threading.Lock()
    trials: dict[int, Trial] = {}

    def flushed(flush_id: int) -> Marker:
        return _Ack(acks, lock, FLUSHED, flush_id)

    while (frame := _read_frame(source)) is not None:
        number, items = marshal.loads(frame)
        feed(pipeline, items, trials, flushed)
        pipeline.mark(_Ack(acks, lock, COMMITTED, number))
    pipeline.close()
    protocol.close()
    return 0


def _read_frame(source: IO[bytes]) -> bytes | None:
    """The next length-prefixed frame; None at the end of the input."""
    header = _read_exactly(source, LENGTH.size)
    if header is None:
        return None
    (length,) = LENGTH.unpack(header)
    frame = _read_exactly(source, length)
    if frame is None:
        print(
            f"track writer: the trainer's last hand-over was cut short ({length} bytes); the "
            "trainer had not finished handing it over, so it is not written",
            file=sys.stderr,
        )
    return frame


if __name__ == "__main__":
    sys.exit(main())
