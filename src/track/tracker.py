"""The ezpz-style API, for users coming from ``ezpz.tracker``.

``setup_tracker(project_name=..., backends="track,wandb,csv", config=..., outdir=...)`` returns a
:class:`Tracker` whose ``log``/``log_config``/``log_table``/``log_image``/``log_artifacts``/
``watch``/``finish`` fan out to its backends. The ``track`` backend stores the trial in a track
store; ``csv``, ``mlflow``, ``wandb``, ``tensorboard`` and ``comet`` are track forwarders, fed
from the write pipeline's thread (never the training loop) with what the track store accepted.
Tables, images and artifacts are kept in the trial's metadata (see docs/forwarding.md), so
every track store and the report have them. Other names come from :func:`register_backend`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from track.client import TrackClient
from track.distributed import detect_rank
from track.forward import Forwarder, forwarder_class
from track.logger import TrialLogger

__all__ = [
    "IMAGE_MAX_BYTES",
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
        self._media: dict[str, dict[str, Any]] = {"tables": {}, "images": {}, "artifacts": {}}

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """``log_metrics`` (``commit`` is moot: track always batches in the background)."""
        self.trial.log_metrics(step=step, **metrics)

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
    """Fans tracking calls out to backends; a backend that raises is warned about once and dropped."""

    def __init__(self, backends: list[TrackerBackend]) -> None:
        self._backends = list(backends)
        self._backend_map = {b.name: b for b in self._backends}

    def _each(self, method: str, *args: Any, **kwargs: Any) -> None:
        for backend in list(self._backends):
            try:
                getattr(backend, method)(*args, **kwargs)
            except Exception as error:  # a backend must not break the run
                log.warning(
                    "track: tracker backend %r failed in %s (%s: %s); it is disabled",
                    backend.name,
                    method,
                    type(error).__name__,
                    error,
                )
                self._backends.remove(backend)

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
        """Finalise all backends."""
        self._each("finish")

    def get_backend(self, name: str) -> TrackerBackend | None:
        """The backend called ``name``, or None if it is not active."""
        return self._backend_map.get(name)


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
    return Tracker([*own, *wrappers, *custom])


class _Driver(TrackBackend):
    """The track backend when "track" is not asked for: an in-memory store feeding forwarders."""

    name = "_driver"
