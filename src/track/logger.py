"""The trial logger: what a training script calls in its loop.

Every log call validates its values (an unserializable value raises, naming its key) and hands
them to the write pipeline; none waits on the store. A trial whose parameters are not known
yet is created in the store when they are (its hash depends on them): on the first call that
is not ``log_arguments``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from track.aggregators.aggregator import Aggregator, StatAggregator
from track.chrono import ChronoContext
from track.distributed import reduce_metrics
from track.persistence.artifacts import ArtifactInfo
from track.persistence.protocol import Protocol, finish_status, refuse_aggregator
from track.pipeline import CHRONOS, METADATA, STATUS, TAGS, WritePipeline
from track.serialization import (
    INT64_MAX,
    INT64_MIN,
    jsonable_dict,
    metric_value,
    report_digest,
    report_doc,
    status_to_doc,
    step_value,
)
from track.structure import AnyStatus, Status, Trial, TrialGroup, as_tags, inherit_tags
from track.system import SystemSampler, capture_environment, start_sampler
from track.utils.eta import EstimatedTime
from track.utils.out import RingOutputDecorator
from track.utils.signal import SignalHandler
from track.utils.stat import StatStream
from track.utils.throttle import throttled

__all__ = ["LogSignalHandler", "LoggerChronoContext", "TrialLogger"]

#: Files larger than this are recorded by hash and size only (``log_file``, ``log_code``).
MAX_STORED_FILE_BYTES = 256 * 1024

_time = time.time
#: Value types a log call stores as they are; anything else (ints included: they must fit in
#: 64 bits, INT64_MIN to INT64_MAX) goes through metric_value.
_PLAIN_NUMBERS = frozenset((float,))


class LogSignalHandler(SignalHandler):
    """Marks the trial Interrupted on SIGTERM/SIGINT and finishes it at interpreter exit.

    In a forked child (a DataLoader worker) it does neither: the trial is its parent's.
    """

    def __init__(self, logger: TrialLogger) -> None:
        self.logger = logger
        self.owner = os.getpid()
        super().__init__()

    def sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Record the interruption; the base then raises SystemExit, which unwinds ``with``."""
        if os.getpid() == self.owner:
            self.logger.set_status(Status.Interrupted, error="SIGTERM")

    def sigint(self, signum: int, frame: FrameType | None) -> None:
        """Record the interruption; the base then raises KeyboardInterrupt."""
        if os.getpid() == self.owner:
            self.logger.set_status(Status.Interrupted, error="SIGINT")

    def atexit(self) -> None:
        """Finish a trial left running: Exception if the interpreter died of one, else Completed."""
        if self.logger.is_running and os.getpid() == self.owner:
            self.logger.finish(
                getattr(sys, "last_type", None),
                getattr(sys, "last_value", None),
                getattr(sys, "last_traceback", None),
            )


class LoggerChronoContext(ChronoContext):
    """A timer whose summary is sent to the store each time its block ends."""

    def __init__(
        self,
        logger: TrialLogger,
        name: str,
        acc: Aggregator,
        start_callback: Callable[[], Any] | None = None,
        end_callback: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(acc, start_callback=start_callback, end_callback=end_callback)
        self.logger = logger
        self.name = name

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc_val, exc_tb)
        if exc_type is None:
            self.logger._put(CHRONOS, {self.name: self.acc})


class TrialLogger:
    """Logs one trial through a write pipeline; create it with ``TrackClient.new_trial``."""

    def __init__(
        self,
        trial: Trial,
        protocol: Protocol,
        pipeline: WritePipeline | None = None,
        create: Callable[[Trial], Trial] | None = None,
        muted: bool = False,
        rank_suffix: str = "",
        project_tags: Callable[[str | None], dict[str, Any]] | None = None,
    ) -> None:
        self.trial = trial
        self._project_tags = project_tags
        self._muted = muted
        self._rank_suffix = rank_suffix
        self.protocol = protocol
        self.pipeline = pipeline or WritePipeline(protocol)
        self._append_metrics = self.pipeline.log_metrics
        self._create = create
        self._pending = create is not None
        # Flags for the log_metrics paths: slow when muted or the trial is not created yet;
        # fast (validated and buffered in one frame) when neither, nor a rank suffix to add.
        self._slow = muted or self._pending
        self._fast = not (self._slow or rank_suffix)
        self._chronos: dict[str, Aggregator] = {}
        self._files: dict[str, Any] = {}
        self._signals: LogSignalHandler | None = None
        self._started_at: float | None = None
        self._capture: list[tuple[str, RingOutputDecorator]] = []
        self._eta: EstimatedTime | None = None
        self._eta_total: Any = None
        #: the (throttle, every) limits of show_eta's printer, which counts calls and time
        self._eta_limits: tuple[int | None, float | None] = (None, None)
        self._eta_printer: Callable[[str], Any] = _print_line
        self._lock = threading.Lock()
        self._sampler: SystemSampler | None = None
        #: metadata.media (images and tables logged), read from the trial on first use
        self._media: dict[str, list[dict[str, Any]]] | None = None

    # ---- identity -----------------------------------------------------------------------

    @property
    def uid(self) -> str:
        """The trial's uid (creating the trial in the store if still pending)."""
        self._ensure_created()
        return self.trial.uid

    @property
    def is_running(self) -> bool:
        """True between ``start`` and ``finish``."""
        return self._started_at is not None

    def _ensure_created(self) -> None:
        if self._pending:
            with self._lock:
                if self._pending:
                    assert self._create is not None  # pending only when given a create function
                    self.trial = self._create(self.trial)
                    self._pending = False
                    self._slow = self._muted
                    self._fast = not (self._slow or self._rank_suffix)

    def _put(self, kind: int, *payload: Any) -> None:
        if self._pending:
            self._ensure_created()
        self.pipeline.put(kind, self.trial, *payload)

    # ---- what a training loop calls -----------------------------------------------------

    def log_arguments(self, **kwargs: Any) -> None:
        """Set the trial's parameters; only before the trial is created (they define its hash).

        Once it is created, logging the values it already has is a no-op (a resumed trial);
        any other value raises, naming ``new_trial(force=True)`` to start another trial."""
        parameters = jsonable_dict(kwargs)
        if not self._pending:
            stored = self.trial.parameters
            if all(key in stored and stored[key] == value for key, value in parameters.items()):
                return
            raise RuntimeError(
                f"trial {self.trial.uid} already exists with parameters {stored}; they are part "
                f"of its identity and cannot change to {parameters}. Log parameters before any "
                "other call on a trial; to run with other parameters, start another trial with "
                "client.new_trial(force=True) (new_trial without force returns the current trial)"
            )
        self.trial.parameters.update(parameters)

    def log_metrics(
        self, step: Any = None, aggregator: Any = None, reduce: bool = False, **metrics: Any
    ) -> None:
        """Record metric values at ``step`` (or appended to their series when step is None).

        ``reduce=True`` (a collective: every rank must call it) also records each metric's
        ``/mean``, ``/min``, ``/max`` and ``/std`` over the ranks (see track.distributed).
        ``aggregator`` is the seed API's: every point is kept, so only None is accepted.
        """
        if (
            self._fast
            and aggregator is None
            and not reduce
            and (step is None or (type(step) is int and INT64_MIN <= step <= INT64_MAX))
            and _PLAIN_NUMBERS.issuperset(map(type, metrics.values()))
        ):  # the training loop's path: one frame here, one in the pipeline (see docs/design)
            self._append_metrics(self.trial, step, metrics, _time())
            return
        if aggregator is not None:
            refuse_aggregator(aggregator, "log_metrics")
        self._log_values(metrics, step, reduce)

    def log_metric_dict(self, metrics: dict[str, Any], step: Any = None) -> None:
        """Record the values of ``metrics`` at ``step``, as :meth:`log_metrics` does.

        The names are keys, not keyword arguments, so any name is a metric: ``step``,
        ``reduce`` and ``aggregator`` included (what a tracker's ``log({...})`` may hold).
        """
        metrics = dict(metrics)
        if (
            self._fast
            and (step is None or (type(step) is int and INT64_MIN <= step <= INT64_MAX))
            and _PLAIN_NUMBERS.issuperset(map(type, metrics.values()))
        ):
            self._append_metrics(self.trial, step, metrics, _time())
            return
        self._log_values(metrics, step, reduce=False)

    def _log_values(self, metrics: dict[str, Any], step: Any, reduce: bool) -> None:
        """Validate and buffer ``metrics`` (a dict the pipeline may keep: no one else's)."""
        if self._slow:
            if self._muted:
                if reduce:
                    reduce_metrics({k: metric_value(k, v) for k, v in metrics.items()})
                return
            self._ensure_created()
        for value in metrics.values():
            if type(value) not in _PLAIN_NUMBERS:
                metrics = {key: metric_value(key, value) for key, value in metrics.items()}
                break
        if step is not None:
            step = step_value(step)
        if reduce or self._rank_suffix:
            metrics = self._distributed_values(metrics, reduce)
        self._append_metrics(self.trial, step, metrics, _time())

    def _distributed_values(self, metrics: dict[str, Any], reduce: bool) -> dict[str, Any]:
        suffix = self._rank_suffix
        values = {f"{k}{suffix}": v for k, v in metrics.items()} if suffix else metrics
        if reduce:
            aggregates = reduce_metrics(metrics)
            if not suffix or suffix == "/rank0":
                values.update(aggregates)
        return values

    def log_metadata(self, aggregator: Any = None, **kwargs: Any) -> None:
        """Record free-form facts about the trial (last value of a key wins).

        ``aggregator`` is the seed API's: only None is accepted (the last value is kept).
        """
        refuse_aggregator(aggregator, "log_metadata")
        self._put(METADATA, jsonable_dict(kwargs))

    def add_tags(self, *labels: str, **kwargs: Any) -> None:
        """Add or replace tags (short labels to find trials by); a bare label has no value.

        A tag of the trial's project cannot take another value (``TagConflict``).
        """
        tags = jsonable_dict({**as_tags(labels), **kwargs})
        self._ensure_created()
        if self._project_tags is not None:
            inherited = self._project_tags(self.trial.project_id)
            inherit_tags(inherited, tags, f"trial {self.trial.uid}")
        self._put(TAGS, tags)

    def add_to_group(self, group: TrialGroup) -> None:
        """Add the trial to a stored group too (a trial may belong to several groups)."""
        self._ensure_created()
        if self._muted:
            return
        self.protocol.add_group_trial(group, self.trial)
        self.trial.groups.add(group.uid)

    def set_status(self, status: AnyStatus, error: str | None = None) -> None:
        """Change the trial's status, recording ``error`` in its errors when given."""
        self._put(STATUS, status_to_doc(status), error)

    def chrono(
        self,
        name: str,
        aggregator: Callable[[], Aggregator] = StatAggregator.lazy(0),
        start_callback: Callable[[], Any] | None = None,
        end_callback: Callable[[], Any] | None = None,
    ) -> LoggerChronoContext:
        """A context manager timing its block into the named timer (avg, min, max, sd, count).

        Pass ``end_callback=torch.cuda.synchronize`` to time GPU work that runs asynchronously.
        """
        acc = self._chronos.get(name)
        if acc is None:
            acc = self._chronos[name] = aggregator()
        return LoggerChronoContext(self, name, acc, start_callback, end_callback)

    # ---- life cycle ---------------------------------------------------------------------

    def start(self) -> TrialLogger:
        """Mark the trial Running, record its start, send heartbeats, handle SIGTERM/SIGINT."""
        self._ensure_created()
        now = _time()
        self._started_at = time.perf_counter()
        interval = self.pipeline.options.heartbeat_interval
        self._put(METADATA, {"start_time": now, "heartbeat": now, "heartbeat_interval": interval})
        self._put(STATUS, status_to_doc(Status.Running), None)
        self.pipeline.running(self.trial, True)
        self.log_metadata(environment=capture_environment(self.trial))
        if self._sampler is None:
            self._sampler = start_sampler(
                self.log_metrics,
                self.pipeline.options.system_metrics_interval,
                self.protocol.folder,
            )
        if self._signals is None:
            self._signals = LogSignalHandler(self)
        return self

    def finish(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
        *,
        status: AnyStatus | None = None,
        error: str | None = None,
    ) -> None:
        """End the trial: Completed, Interrupted (signal, Ctrl-C) or Exception, then flush.

        ``status`` (and ``error``) set the final status instead, for a caller that knows the
        outcome as a state rather than an exception (a framework's "pruned", "failed").
        """
        self._ensure_created()
        if status is None:
            status = finish_status(exc_type)
            if status is Status.Exception:
                error = "".join(traceback.format_exception(exc_type, exc_val, exc_tb))
        if self._started_at is not None:
            self._put(CHRONOS, {"runtime": _Runtime(time.perf_counter() - self._started_at)})
        self._started_at = None
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        self.pipeline.running(self.trial, False)
        self._store_output()
        self._put(METADATA, {"end_time": _time()})
        self._put(STATUS, status_to_doc(status), error)
        if self._signals is not None:
            self._signals.restore()
            self._signals = None
        self.flush(self.pipeline.options.exit_timeout)

    def __enter__(self) -> TrialLogger:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.finish(exc_type, exc_val, exc_tb)
        from track.reading import print_stored_summary, summary_wanted  # on a terminal only

        if not self._muted and summary_wanted(sys.stderr):
            print_stored_summary(self.protocol, self.trial, sys.stderr)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is in the store (False if ``timeout`` ran out)."""
        self._ensure_created()
        return self.pipeline.flush(timeout)

    def log_artifact(self, path: str, name: str | None = None) -> ArtifactInfo:
        """Store the file at ``path`` with the trial, under ``name`` (default: its file name).

        Any size and type, stored once per content (sha256) and streamed in chunks. Unlike a
        log call it returns once the file is stored: a big file is not copied into memory, and
        a failure reaches the caller. Earlier log calls are flushed first.
        """
        self.flush()
        return self.protocol.put_artifact(self.trial, name or os.path.basename(path), path)

    def log_artifacts(self, directory: str) -> list[ArtifactInfo]:
        """Store every file under ``directory``, each named by its path relative to it (``/``)."""
        stored = []
        for folder, subfolders, files in os.walk(directory):
            subfolders.sort()
            for file_name in sorted(files):
                path = os.path.join(folder, file_name)
                name = os.path.relpath(path, directory).replace(os.sep, "/")
                stored.append(self.log_artifact(path, name))
        return stored

    def log_image(
        self, name: str, image: Any, step: Any = None, caption: str | None = None
    ) -> ArtifactInfo:
        """Store an image (a path, a PIL image or an HxW/HxWx3/HxWx4 array) as a PNG artifact.

        Named ``media/<name>/<step or n>.png`` and listed in ``metadata.media.<name>`` for the
        dashboard. Arrays are uint8 or float in [0, 1]; arrays, PIL images and files that are
        not PNG need Pillow (``track[wandb]``). Stored before it returns, like log_artifact.
        """
        from track.media import image_png  # Pillow only when an image must be encoded

        return self._log_media(name, "image", image_png(name, image), step, caption)

    def log_table(
        self, name: str, columns: list[str], rows: list[list[Any]], step: Any = None
    ) -> ArtifactInfo:
        """Store a table as the JSON artifact ``media/<name>/<step or n>.json``.

        The artifact holds ``{"columns": [...], "rows": [...]}``; a cell that is not
        JSON-serializable raises ``InvalidValue`` naming it. Listed in ``metadata.media``.
        """
        from track.media import table_json

        return self._log_media(name, "table", table_json(name, columns, rows), step)

    def _log_media(
        self, name: str, kind: str, data: bytes, step: Any, caption: str | None = None
    ) -> ArtifactInfo:
        """Store ``data`` as ``media/<name>/<step or n>.<png|json>`` and list it in
        ``metadata.media``; the same name and step again replaces the artifact and its entry."""
        from track.media import check_media_name

        check_media_name(name)
        self._ensure_created()  # before the lock: creating the trial takes it too
        step = None if step is None else step_value(step)
        extension, media_type = (
            ("png", "image/png") if kind == "image" else ("json", "application/json")
        )
        with self._lock:
            if self._media is None:  # a resumed trial continues the index it has
                known = self.trial.metadata.get("media")
                self._media = (
                    {k: list(v) for k, v in known.items()} if isinstance(known, dict) else {}
                )
            series = self._media.setdefault(name, [])
            artifact = f"media/{name}/{step if step is not None else len(series)}.{extension}"
            self.flush()
            info = self.protocol.put_artifact(self.trial, artifact, io.BytesIO(data), media_type)
            entry = {"step": step, "artifact": artifact, "kind": kind, "caption": caption}
            series[:] = [e for e in series if e["artifact"] != artifact] + [entry]
            index = {k: list(v) for k, v in self._media.items()}
        self.log_metadata(media=index)
        return info

    @property
    def artifacts(self) -> list[ArtifactInfo]:
        """The trial's artifacts: name, size, sha256, time and media type of each."""
        self.flush()
        return self.protocol.list_artifacts(self.trial)

    def rename(self, name: str) -> None:
        """Show the trial as ``name`` (a display name: its uid and hash stay; "" removes it)."""
        self.flush()
        if not self._muted:
            self.protocol.set_trial_display(self.uid, name=name)

    def note(self, text: str) -> None:
        """Set the trial's free-text note ("" removes it)."""
        self.flush()
        if not self._muted:
            self.protocol.set_trial_display(self.uid, note=text)

    def remove_tags(self, *names: str) -> None:
        """Remove tags of the trial (names it does not have are ignored)."""
        self.flush()
        if not self._muted:
            self.protocol.remove_trial_tags(self.uid, list(names))

    def history(
        self,
        names: list[str] | None = None,
        x: str = "step",
        wide: bool = False,
        backend: str = "pandas",
    ) -> Any:
        """This trial's metric points as a DataFrame, everything logged so far included.

        Flushes first, then reads the store (see :func:`track.frames.history`; extra ``[data]``).
        """
        self.flush()
        from track.frames import history  # pandas and the readers only when asked for

        return history(self.trial, names, x=x, wide=wide, store=self.protocol, backend=backend)

    def plot(self, names: list[str] | None = None, x: str = "step") -> Any:
        """This trial's curves as a plotly figure (see :func:`track.frames.plot`; extra ``[ui]``)."""
        self.flush()
        from track.frames import plot  # plotly only when asked for

        return plot(self.trial, names, x=x, store=self.protocol)

    def _repr_html_(self) -> str:
        """The stored trial as Jupyter shows it (see ``Trial._repr_html_``), after a flush."""
        self.flush(self.pipeline.options.exit_timeout)
        stored = self.protocol.fetch_trials({"uid": self.trial.uid}, with_metrics=False)
        return (stored[0] if stored else self.trial)._repr_html_()

    # ---- output and files ---------------------------------------------------------------

    def capture_output(self, output_size: int = 50) -> None:
        """Keep the last ``output_size`` lines of stdout and stderr (still printed) with the trial."""
        for name in ("stdout", "stderr"):
            ring = RingOutputDecorator(getattr(sys, name), n_entries=output_size)
            setattr(sys, name, ring)
            self._capture.append((name, ring))

    def _store_output(self) -> None:
        if not self._capture:
            return
        output = {}
        for name, ring in self._capture:
            output[name] = ring.output()
            if getattr(sys, name) is ring:
                setattr(sys, name, ring.out())
        self._capture = []
        self._put(METADATA, {"output": output})

    def log_file(self, file_name: str) -> None:
        """Store a file with the trial: its content if text under 256 KiB, else sha256 and size."""
        path = os.path.abspath(file_name)
        with open(path, "rb") as file:
            data = file.read()
        entry: dict[str, Any] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        if len(data) <= MAX_STORED_FILE_BYTES:
            with contextlib.suppress(UnicodeDecodeError):
                entry["content"] = data.decode("utf-8")
        self._files[path] = entry
        self._put(METADATA, {"files": dict(self._files)})

    def log_directory(self, name: str, recursive: bool = False) -> None:
        """Store every file of a directory (and its subdirectories when ``recursive``)."""
        for root, dirs, files in os.walk(name):
            for file_name in sorted(files):
                self.log_file(os.path.join(root, file_name))
            if not recursive:
                dirs.clear()

    def log_code(self) -> None:
        """Store the running script (see :meth:`log_file` for the size cap)."""
        main = getattr(sys.modules.get("__main__"), "__file__", None)
        if main and os.path.isfile(main):
            self.log_file(main)

    # ---- progress -----------------------------------------------------------------------

    def set_eta_total(self, t: int | tuple[int, ...]) -> None:
        """Set the total number of steps (or nested totals) for :meth:`show_eta`."""
        self._eta_total = t
        if self._eta is not None:
            self._eta.set_totals(t)

    def show_eta(
        self,
        step: int | tuple[int, ...],
        timer: StatStream | None = None,
        msg: str = "",
        throttle: int | None = None,
        every: float | None = None,
        no_print: bool = False,
    ) -> str:
        """Print the estimated time left from the step timer and the total set beforehand.

        The line is always returned; ``throttle=N`` prints it only on every N-th printing call
        and ``every=S`` at most once every S seconds (as ``track.utils.throttle.throttled``).
        """
        if self._eta is None:
            if self._eta_total is None:
                raise RuntimeError("call set_eta_total(total) before show_eta")
            self._eta = EstimatedTime(timer or StatStream(drop_first_obs=1), self._eta_total)
        if timer is not None:
            self._eta.timer = timer
        line = self._eta.show_eta(step, msg=msg, show=False)
        if not no_print:
            self._eta_print(throttle, every)(line)
        return line

    def _eta_print(self, throttle: int | None, every: float | None) -> Callable[[str], Any]:
        """The printer for these limits, kept across calls so that it counts calls and time."""
        if every is not None and every < 0:
            raise ValueError(f"show_eta(every=) is a number of seconds >= 0, got {every}")
        if self._eta_limits != (throttle, every):
            self._eta_limits = (throttle, every)
            self._eta_printer = throttled(_print_line, throttle, every)
        return self._eta_printer

    # ---- reading back -------------------------------------------------------------------

    def report(self, short: bool = False) -> dict[str, Any]:
        """Print the trial as stored (after a flush) in the report layout, and return it.

        ``short=True`` prints a digest instead: each metric as its last value, min, max and
        count, and only the metadata the script logged (see ``report_digest``).
        """
        self.flush()
        stored = self.protocol.get_trial(self.trial)
        trial = stored[0] if stored else self.trial
        doc = report_digest(trial) if short else report_doc(trial)
        print(json.dumps(doc, indent=2, default=str))
        return doc


def _print_line(line: str) -> None:
    """Print one progress line at once (show_eta's printer before any throttling)."""
    print(line, flush=True)


class _Runtime:
    """A fixed number of seconds that serializes like a chrono (the report's ``runtime``)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def to_json(self, short: bool = False) -> float:
        return self.seconds
