"""The ezpz-style API, for users coming from ``ezpz.tracker``.

``setup_tracker(project_name=..., backends="track,wandb,csv", config=..., outdir=...)`` returns a
:class:`Tracker` whose ``log``/``log_config``/``log_table``/``log_image``/``log_artifacts``/
``watch``/``finish`` fan out to its backends. The ``track`` backend stores the trial in a track
store; ``csv``, ``mlflow``, ``wandb``, ``tensorboard`` and ``comet`` are track forwarders, fed
from the write pipeline's thread (never the training loop) with what the track store accepted.
Tables, images and artifacts are kept in the trial's metadata (see docs/forwarding.md), so
every track store and the report have them. Other names come from :func:`register_backend`.

Like ezpz, a bad value never costs the run: ``log`` stores every numeric value (numpy scalars
and 0-d tensors included) as a metric and keeps each other value the way W&B does, in the
trial's metadata ``summary.<key>`` (last value wins, one warning per key). A backend whose call
fails because of a value is warned about and kept; one failing
:data:`~track.forward.base.MAX_CONSECUTIVE_FAILURES` calls in a row for another reason (I/O,
network) is disabled, and that is appended to the trial's ``errors``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import mimetypes
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from track.client import TrackClient
from track.distributed import detect_rank
from track.forward import Forwarder, ForwardingProtocol, forwarder_class
from track.forward.base import MAX_CONSECUTIVE_FAILURES, is_value_error
from track.forward.protocol import record_trial_error
from track.logger import TrialLogger
from track.serialization import UnserializableValue, jsonable, metric_value

__all__ = [
    "IMAGE_MAX_BYTES",
    "SUMMARY_MAX_CHARS",
    "NullTracker",
    "TrackBackend",
    "Tracker",
    "TrackerBackend",
    "register_backend",
    "setup_tracker",
]

log = logging.getLogger("track.tracker")

#: Images up to this size are stored in the trial as base64; larger ones by path and hash only.
IMAGE_MAX_BYTES = 1024 * 1024
#: A non-numeric logged value whose JSON is longer than this is refused (with a warning) rather
#: than kept in metadata ``summary`` (a large array logged every step would bloat the trial).
SUMMARY_MAX_CHARS = 64 * 1024


class TrackerBackend(ABC):
    """Base class of tracker backends: ``log``, ``log_config`` and ``finish`` are required."""

    name: str = "base"

    @abstractmethod
    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Log a dictionary of scalar metrics at ``step``."""

    @abstractmethod
    def log_config(self, config: dict[str, Any]) -> None:
        """Record run-level configuration."""

    @abstractmethod
    def finish(self) -> None:
        """Finalise the run and release resources."""

    def log_table(self, key: str, columns: list[str], data: list[list[Any]]) -> None:  # noqa: B027 (optional capability: no-op by design)
        """Log a table; no-op unless overridden."""

    def log_image(self, key: str, image_path: str | Path, caption: str | None = None) -> None:  # noqa: B027 (optional capability: no-op by design)
        """Log an image file; no-op unless overridden."""

    def log_artifacts(self, paths: dict[str, str]) -> None:  # noqa: B027 (optional capability: no-op by design)
        """Keep local files (``label -> path``) with the run; no-op unless overridden."""

    def watch(self, model: Any, **kwargs: Any) -> None:  # noqa: B027 (optional capability: no-op by design)
        """Track a model's gradients/parameters; no-op unless overridden."""


def _file_entry(path: str | Path) -> dict[str, Any]:
    data = Path(path).read_bytes()
    return {
        "path": os.path.abspath(path),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


class TrackBackend(TrackerBackend):
    """The trial in a track store; tables, images and artifacts go into its metadata."""

    name = "track"

    def __init__(self, client: TrackClient, trial: TrialLogger) -> None:
        self.client = client
        self.trial = trial
        self._media: dict[str, dict[str, Any]] = {
            "tables": {},
            "images": {},
            "artifacts": {},
            "summary": {},
        }
        self._warned: set[str] = set()

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Numbers to ``log_metrics``, any other value to metadata ``summary.<key>``.

        ``commit`` is moot: track always batches in the background. A value that is neither a
        number nor JSON (or whose JSON exceeds :data:`SUMMARY_MAX_CHARS`) is refused with a
        warning naming its key; the call's other values are stored all the same.
        """
        numbers: dict[str, Any] = {}
        kept = False
        for key, value in metrics.items():
            try:
                numbers[key] = metric_value(key, value)
            except UnserializableValue:
                kept = self._keep(str(key), value) or kept
        if numbers:
            self.trial.log_metrics(step=step, **numbers)
        if kept:
            self.trial.log_metadata(summary=dict(self._media["summary"]))

    def _keep(self, key: str, value: Any) -> bool:
        """Put a non-numeric value in the summary (True), or refuse it with a warning (False)."""
        try:
            doc = jsonable(key, value)
            size = len(json.dumps(doc))
        except (UnserializableValue, ValueError) as error:
            self._warn(f"refused:{key}", "track: tracker value %r not stored (%s)", key, error)
            return False
        if size > SUMMARY_MAX_CHARS:
            self._warn(
                f"refused:{key}",
                "track: tracker value %r not stored: %s is not a number and its JSON (%d "
                "characters) is over %d",
                key,
                type(value).__name__,
                size,
                SUMMARY_MAX_CHARS,
            )
            return False
        self._warn(
            f"kept:{key}",
            "track: tracker value %r is a %s, not a number: it is kept in the trial's metadata "
            "summary.%s (last value wins), not as a metric",
            key,
            type(value).__name__,
            key,
        )
        self._media["summary"][key] = doc
        return True

    def _warn(self, once: str, message: str, *args: Any) -> None:
        if once not in self._warned:
            self._warned.add(once)
            log.warning(message, *args)

    def log_config(self, config: dict[str, Any]) -> None:
        """Merge into metadata ``config`` (parameters are the trial's identity and stay fixed)."""
        self._media.setdefault("config", {}).update(config)
        self.trial.log_metadata(config=dict(self._media["config"]))

    def _put(self, kind: str, key: str, entry: dict[str, Any]) -> None:
        self._media[kind][key] = entry
        self.trial.log_metadata(**{kind: dict(self._media[kind])})

    def log_table(self, key: str, columns: list[str], data: list[list[Any]]) -> None:
        """Store under metadata ``tables.<key>`` as ``{"columns", "data"}``."""
        self._put("tables", key, {"columns": list(columns), "data": [list(r) for r in data]})

    def log_image(self, key: str, image_path: str | Path, caption: str | None = None) -> None:
        """Store under metadata ``images.<key>``: path, sha256, size, and base64 up to 1 MiB."""
        entry = _file_entry(image_path)
        entry["caption"] = caption
        entry["media_type"] = mimetypes.guess_type(str(image_path))[0] or "image/png"
        if entry["size"] <= IMAGE_MAX_BYTES:
            entry["base64"] = base64.b64encode(Path(image_path).read_bytes()).decode("ascii")
        self._put("images", key, entry)

    def log_artifacts(self, paths: dict[str, str]) -> None:
        """Store each file with ``log_file`` and list it under metadata ``artifacts.<label>``."""
        for label, path in paths.items():
            if os.path.isdir(path):
                self.trial.log_directory(path, recursive=True)
                self._put("artifacts", label, {"path": os.path.abspath(path), "directory": True})
            elif os.path.isfile(path):
                self.trial.log_file(path)
                self._put("artifacts", label, _file_entry(path))

    def finish(self) -> None:
        """Finish the trial and close the client (which ends every forwarder's run)."""
        self.trial.finish()
        self.client.close()


class ForwarderBackend(TrackerBackend):
    """A track forwarder seen as a backend (``get_backend("wandb").run``, ``watch``).

    Its data arrives through the track client's pipeline, so its own log methods do nothing.
    """

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.name = forwarder.name

    @property
    def run(self) -> Any:
        """The forwarder's run object (wandb run, MLflow run id, ...), or None."""
        return getattr(self.forwarder, "run", None) or getattr(self.forwarder, "run_id", None)

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Nothing: the track backend's pipeline forwards the points."""

    def log_config(self, config: dict[str, Any]) -> None:
        """Nothing: forwarded as metadata by the track backend."""

    def finish(self) -> None:
        """Nothing: the track backend's close ends the forwarder."""

    def watch(self, model: Any, **kwargs: Any) -> None:
        """``run.watch(model)`` when the forwarder's run supports it (wandb)."""
        run = getattr(self.forwarder, "run", None)
        if run is not None and hasattr(run, "watch"):
            run.watch(model, **kwargs)


class Tracker:
    """Fans tracking calls out to backends; a backend's failure never breaks the run.

    A call a backend refuses because of a value (:func:`~track.forward.base.is_value_error`)
    is warned about (once per backend, method and error type) and the backend carries on. Any
    other failure is warned about the same way and counted per method; after
    :data:`~track.forward.base.MAX_CONSECUTIVE_FAILURES` in a row (a success of that method
    resets it) the backend is disabled and ``on_disable`` (setup_tracker: append to the
    trial's errors) gets the message.
    """

    def __init__(
        self,
        backends: list[TrackerBackend],
        on_disable: Callable[[str], None] | None = None,
    ) -> None:
        self._all = list(backends)
        self._backends = list(backends)
        self._backend_map = {b.name: b for b in self._backends}
        self._on_disable = on_disable
        self._failures: dict[tuple[str, str], int] = {}
        self._warned: set[tuple[str, str, str]] = set()

    def _each(self, method: str, *args: Any, **kwargs: Any) -> None:
        for backend in list(self._backends):
            self._call(backend, method, *args, **kwargs)

    def _call(self, backend: TrackerBackend, method: str, *args: Any, **kwargs: Any) -> None:
        try:
            getattr(backend, method)(*args, **kwargs)
        except Exception as error:  # a backend must not break the run
            self._failed(backend, method, error)
        else:
            self._failures.pop((backend.name, method), None)

    def _failed(self, backend: TrackerBackend, method: str, error: Exception) -> None:
        if backend not in self._backends:  # a disabled backend failing to finish
            log.warning(
                "track: disabled tracker backend %r failed in %s too (%s: %s)",
                backend.name,
                method,
                type(error).__name__,
                error,
            )
            return
        once = (backend.name, method, type(error).__name__)
        first = once not in self._warned
        self._warned.add(once)
        if is_value_error(error):
            if first:
                log.warning(
                    "track: tracker backend %r refused a value in %s (%s: %s); that call is "
                    "lost for this backend only, which carries on (warned once per kind)",
                    backend.name,
                    method,
                    type(error).__name__,
                    error,
                )
            return
        count = self._failures[(backend.name, method)] = (
            self._failures.get((backend.name, method), 0) + 1
        )
        if count < MAX_CONSECUTIVE_FAILURES:
            if first:
                log.warning(
                    "track: tracker backend %r failed in %s (%s: %s); that call is lost for it "
                    "(failure %d of %d in a row before it is disabled)",
                    backend.name,
                    method,
                    type(error).__name__,
                    error,
                    count,
                    MAX_CONSECUTIVE_FAILURES,
                )
            return
        self._backends.remove(backend)
        message = (
            f"tracker backend {backend.name!r} disabled after {count} failures in a row in "
            f"{method} ({type(error).__name__}: {error}); the other backends carry on"
        )
        log.warning("track: %s", message)
        if self._on_disable is not None:
            self._on_disable(message)

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Log metrics to all backends."""
        self._each("log", metrics, step=step, commit=commit)

    def log_config(self, config: dict[str, Any]) -> None:
        """Record config on all backends."""
        self._each("log_config", config)

    def log_table(self, key: str, columns: list[str], data: list[list[Any]]) -> None:
        """Log a table on all backends."""
        self._each("log_table", key, columns, data)

    def log_image(self, key: str, image_path: str | Path, caption: str | None = None) -> None:
        """Log an image on all backends."""
        self._each("log_image", key, image_path, caption=caption)

    def log_artifacts(self, paths: dict[str, str]) -> None:
        """Keep local files with the run on all backends."""
        self._each("log_artifacts", paths)

    def watch(self, model: Any, **kwargs: Any) -> None:
        """Attach model watching on all backends that support it."""
        self._each("watch", model, **kwargs)

    def finish(self) -> None:
        """Finalise every backend, disabled ones included (to release them), last one first.

        The track backend, first in the list, is finished last: until then it can still record
        another backend's failure on the trial.
        """
        for backend in reversed(self._all):
            self._call(backend, "finish")

    def get_backend(self, name: str) -> TrackerBackend | None:
        """The backend called ``name``, or None if it is not active (never set up, or disabled)."""
        backend = self._backend_map.get(name)
        if backend not in self._backends:
            return None
        if isinstance(backend, ForwarderBackend) and not backend.forwarder.enabled:
            return None
        return backend


class NullTracker(Tracker):
    """A tracker with no backends: every call is a no-op."""

    def __init__(self) -> None:
        super().__init__([])


_registry: dict[str, type[TrackerBackend]] = {}


def register_backend(name: str, cls: type[TrackerBackend]) -> None:
    """Make ``name`` usable in ``setup_tracker(backends=...)``; built with the setup keywords."""
    _registry[name] = cls


def _forwarder_options(name: str, project: str | None, outdir: Path | None) -> dict[str, Any]:
    if outdir is None:
        return {}
    return {
        "csv": {"outdir": outdir},
        "wandb": {"dir": outdir, "project": project},
        "tensorboard": {"logdir": outdir / "tensorboard"},
    }.get(name, {})


def setup_tracker(
    project_name: str | None = None,
    backends: str | Sequence[str] | None = None,
    config: dict[str, Any] | None = None,
    outdir: str | os.PathLike[str] | None = None,
    rank: int | None = None,
    **kwargs: Any,
) -> Tracker:
    """A :class:`Tracker` with the named backends (default ``TRACK_TRACKER_BACKENDS`` or "track").

    ``uri=`` names the track store; ``<forwarder>_options={...}`` (e.g. ``mlflow_options=
    {"tracking_uri": ...}``) go to that forwarder. Off rank 0 it returns a :class:`NullTracker`.
    """
    rank = detect_rank().rank if rank is None else rank
    if backends is None:
        backends = os.environ.get("TRACK_TRACKER_BACKENDS", "track")
    if isinstance(backends, str):
        backends = [b.strip() for b in backends.split(",") if b.strip()]
    if rank != 0 or not backends or list(backends) == ["none"]:
        return NullTracker()
    folder = Path(outdir) if outdir is not None else None
    forwarders: list[Forwarder] = []
    custom: list[TrackerBackend] = []
    for name in backends:
        if name == "track":
            continue
        try:
            if name in _registry:
                custom.append(_registry[name](project_name, config, outdir, rank, **kwargs))
                continue
            options = {
                **_forwarder_options(name, project_name, folder),
                **kwargs.pop(f"{name}_options", {}),
            }
            forwarders.append(forwarder_class(name)(**options))
        except Exception as error:  # a missing library must not stop the run
            log.warning(
                "track: tracker backend %r not available (%s: %s)",
                name,
                type(error).__name__,
                error,
            )
    uri = kwargs.pop("uri", None) if "track" in backends else "ephemeral:"
    client = TrackClient(uri, forward=forwarders)
    client.set_project(name=project_name or "orphan")
    trial = client.new_trial(name=kwargs.pop("name", None), parameters=dict(config or {}))
    trial.start()
    trial.flush()
    wrappers = [ForwarderBackend(f) for f in forwarders if f.enabled]
    own = [TrackBackend(client, trial)] if "track" in backends else [_Driver(client, trial)]
    store = client.protocol
    if isinstance(store, ForwardingProtocol):
        store = store.store  # record errors in the store only, not as a batch to forward

    def on_disable(message: str) -> None:
        record_trial_error(store, trial.trial, message)

    return Tracker([*own, *wrappers, *custom], on_disable=on_disable)


class _Driver(TrackBackend):
    """The track backend when "track" is not asked for: an in-memory store feeding forwarders."""

    name = "_driver"
