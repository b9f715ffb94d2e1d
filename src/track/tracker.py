"""The ezpz-style API, for users coming from ``ezpz.tracker``.

``setup_tracker(project_name=..., backends="track,wandb,csv", config=..., outdir=...)`` returns a
:class:`Tracker` whose ``log``/``log_config``/``log_table``/``log_image``/``log_artifacts``/
``watch``/``finish`` fan out to its backends. The ``track`` backend stores the trial in a track
store; ``csv``, ``mlflow``, ``wandb``, ``tensorboard`` and ``comet`` are track forwarders, fed
from the write pipeline's thread (never the training loop) with what the track store accepted,
and seen as :class:`CSVBackend`, :class:`MLflowBackend`, :class:`WandbBackend` (or
:class:`ForwarderBackend`). Those classes also compose by hand as in ezpz:
``Tracker([WandbBackend(project_name="p"), CSVBackend("./logs")])`` (see track.backends).
Tables, images and artifacts are kept in the trial's metadata (see docs/forwarding.md), so
every track store and the report have them; tables and images are also stored as artifacts
(``TrialLogger.log_table``/``log_image``) that the dashboard shows. Other names come from :func:`register_backend`.

Like ezpz, a bad value never costs the run: ``log`` stores every numeric value (numpy scalars
and 0-d tensors included) as a metric and keeps each other value the way W&B does, in the
trial's metadata ``summary.<key>`` (last value wins, one warning per key). A backend whose call
fails because of a value is warned about and kept; one failing
:data:`~track.forward.base.MAX_CONSECUTIVE_FAILURES` calls in a row for another reason (I/O,
network), or whose forwarder reports itself broken, is disabled, and that is appended to the
trial's ``errors``.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from track.backends import (
    SUMMARY_MAX_CHARS,
    CSVBackend,
    ForwarderBackend,
    MLflowBackend,
    TrackerBackend,
    Values,
    WandbBackend,
    artifact_entries,
    image_entry,
    mlflow_experiment_name,
    project_from_environment,
)
from track.client import ORPHAN_PROJECT, TrackClient
from track.distributed import detect_rank
from track.errors import InvalidValue, MissingExtra
from track.forward import Forwarder, ForwardingProtocol, forwarder_class, parse_forward
from track.forward.base import MAX_CONSECUTIVE_FAILURES, ForwarderBroken, is_value_error
from track.forward.protocol import record_trial_error
from track.logger import TrialLogger
from track.persistence.artifacts import ArtifactInfo, ArtifactsUnsupported
from track.registry import Registry

__all__ = [
    "IMAGE_MAX_BYTES",
    "SUMMARY_MAX_CHARS",
    "CSVBackend",
    "ForwarderBackend",
    "MLflowBackend",
    "NullTracker",
    "TrackBackend",
    "Tracker",
    "TrackerBackend",
    "WandbBackend",
    "register_backend",
    "setup_tracker",
]

log = logging.getLogger("track.tracker")

#: Images up to this size are also kept in the trial's metadata as base64 (for the forwarders);
#: every image is stored whole as a PNG artifact.
IMAGE_MAX_BYTES = 1024 * 1024


class TrackBackend(TrackerBackend):
    """The trial in a track store; tables, images and artifacts go into its metadata."""

    name = "track"

    def __init__(self, client: TrackClient, trial: TrialLogger) -> None:
        self.client = client
        self.trial = trial
        self._values = Values("the trial's metadata summary.{key}")
        self._media: dict[str, dict[str, Any]] = {"tables": {}, "images": {}, "artifacts": {}}

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Numbers to ``log_metrics``, any other value to metadata ``summary.<key>``.

        ``commit`` is moot: track always batches in the background. A value that is neither a
        number nor JSON (or whose JSON exceeds :data:`SUMMARY_MAX_CHARS`) is refused with a
        warning naming its key; the call's other values are stored all the same.
        """
        numbers, kept = self._values.sort(metrics)
        if numbers:
            self.trial.log_metric_dict(numbers, step=step)
        if kept:
            self.trial.log_metadata(summary=dict(self._values.summary))

    def log_config(self, config: dict[str, Any]) -> None:
        """Merge into metadata ``config`` (parameters are the trial's identity and stay fixed)."""
        self._media.setdefault("config", {}).update(config)
        self.trial.log_metadata(config=dict(self._media["config"]))

    def record_error(self, message: str) -> None:
        """Append ``message`` to the trial's errors in the store (not forwarded)."""
        store = self.client.protocol
        if isinstance(store, ForwardingProtocol):
            store = store.store  # record errors in the store only, not as a batch to forward
        record_trial_error(store, self.trial.trial, message)

    def _put(self, kind: str, key: str, entry: dict[str, Any]) -> None:
        self._media[kind][key] = entry
        self.trial.log_metadata(**{kind: dict(self._media[kind])})

    def log_table(self, key: str, columns: list[str], data: list[list[Any]]) -> None:
        """Store as the artifact ``media/<key>/<n>.json`` (``TrialLogger.log_table``) and under
        metadata ``tables.<key>`` as ``{"columns", "data"}`` for the forwarders."""
        self._media_artifact(self.trial.log_table, key, columns, data)
        self._put("tables", key, {"columns": list(columns), "data": [list(r) for r in data]})

    def log_image(self, key: str, image_path: str | Path, caption: str | None = None) -> None:
        """Store as the PNG artifact ``media/<key>/<n>.png`` (``TrialLogger.log_image``, any
        size) and under metadata ``images.<key>``: path, sha256, size, the artifact's name, and
        base64 up to 1 MiB for the forwarders."""
        entry = image_entry(image_path, caption)
        info = self._media_artifact(self.trial.log_image, key, image_path, caption=caption)
        if info is not None:
            entry["artifact"] = info.name
        if entry["size"] <= IMAGE_MAX_BYTES:
            entry["base64"] = base64.b64encode(Path(image_path).read_bytes()).decode("ascii")
        self._put("images", key, entry)

    def _media_artifact(
        self, method: Callable[..., ArtifactInfo], key: str, *args: Any, **kwargs: Any
    ) -> ArtifactInfo | None:
        """``method``'s artifact, or None with a warning when the store keeps no artifacts
        (``ephemeral:``), Pillow is missing or the file is no image Pillow reads: the metadata
        entry is kept all the same (the forwarders report what they cannot take)."""
        try:
            return method(key, *args, **kwargs)
        except (ArtifactsUnsupported, MissingExtra, InvalidValue) as error:
            log.warning("track: %r kept in metadata only (%s)", key, error)
            return None

    def log_artifacts(self, paths: dict[str, str]) -> None:
        """Store each file with ``log_file`` and list it under metadata ``artifacts.<label>``;
        a path that is neither a file nor a directory is warned about."""
        for label, entry in artifact_entries(paths).items():
            if entry.get("directory"):
                self.trial.log_directory(entry["path"], recursive=True)
            else:
                self.trial.log_file(paths[label])
            self._put("artifacts", label, entry)

    def finish(self) -> None:
        """Finish the trial and close the client (which ends every forwarder's run)."""
        self.trial.finish()
        self.client.close()


class Tracker:
    """Fans tracking calls out to backends; a backend's failure never breaks the run.

    A call a backend refuses because of a value (:func:`~track.forward.base.is_value_error`)
    is warned about (once per backend, method and error type) and the backend carries on. Any
    other failure is warned about the same way and counted per method; after
    :data:`~track.forward.base.MAX_CONSECUTIVE_FAILURES` in a row (a success of that method
    resets it) the backend is disabled and ``on_disable`` gets the message; so is a backend
    raising :class:`~track.forward.ForwarderBroken` (its forwarder failed that many times
    already). ``on_disable`` defaults to appending to the errors of a :class:`TrackBackend`'s
    trial, when one is among the backends.
    """

    def __init__(
        self,
        backends: list[TrackerBackend],
        on_disable: Callable[[str], None] | None = None,
    ) -> None:
        self._all = list(backends)
        self._backends = list(backends)
        self._backend_map = {b.name: b for b in self._backends}
        if on_disable is None:
            track = next((b for b in self._all if isinstance(b, TrackBackend)), None)
            on_disable = track.record_error if track is not None else None
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
        if isinstance(error, ForwarderBroken):
            self._disable(backend, f"disabled in {method}: {error}")
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
        self._disable(
            backend,
            f"disabled after {count} failures in a row in {method} "
            f"({type(error).__name__}: {error})",
        )

    def _disable(self, backend: TrackerBackend, why: str) -> None:
        """Stop calling ``backend`` (but ``finish``), with a warning and ``on_disable``."""
        self._backends.remove(backend)
        message = f"tracker backend {backend.name!r} {why}; the other backends carry on"
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
        if isinstance(backend, ForwarderBackend) and not backend.active:
            return None
        return backend

    @property
    def wandb_run(self) -> Any:
        """The wandb backend's live ``wandb.Run``, or None when no wandb backend is active."""
        return getattr(self.get_backend("wandb"), "run", None)

    @property
    def mlflow_run(self) -> Any:
        """The MLflow backend's run (an ``mlflow.entities.Run``), or None without one."""
        return getattr(self.get_backend("mlflow"), "run", None)


class NullTracker(Tracker):
    """A tracker with no backends: every call is a no-op."""

    def __init__(self) -> None:
        super().__init__([])


#: name -> the TrackerBackend class :func:`register_backend` gave (called with ezpz's keywords)
_backends: Registry[Callable[..., TrackerBackend]] = Registry("tracker backend")


def register_backend(name: str, cls: type[TrackerBackend]) -> None:
    """Make ``name`` usable in ``setup_tracker(backends=...)``.

    setup_tracker builds it as ezpz does: ``cls(project_name=..., config=..., outdir=...,
    rank=..., **kwargs)``.
    """
    _backends.register(name, cls)


#: The backend class that shows a forwarder of that name (others: ForwarderBackend).
BACKEND_CLASSES: dict[str, type[ForwarderBackend]] = {
    "csv": CSVBackend,
    "mlflow": MLflowBackend,
    "wandb": WandbBackend,
}
#: Where setup_tracker reads the backend list when the call gives none, in this order.
BACKEND_VARIABLES = ("TRACK_TRACKER_BACKENDS", "EZPZ_TRACKER_BACKENDS", "EZPZ_TRACKERS")


def backend_names(backends: str | Sequence[str] | None) -> list[str]:
    """The backend list: ``backends``, else the first of :data:`BACKEND_VARIABLES` set, else
    ``"track"``; plus the forwarders ``TRACK_FORWARD`` names (as for every TrackClient)."""
    if backends is None:
        found = (os.environ.get(n, "").strip() for n in BACKEND_VARIABLES)
        backends = next((value for value in found if value), "track")
    if isinstance(backends, str):
        backends = backends.split(",")
    names = [b.strip() for b in backends if b.strip()]
    if names == ["none"]:
        return []
    extra = [n for n in parse_forward(None) if isinstance(n, str) and n not in names]
    return [*names, *extra]


def _forwarder_options(
    name: str, project: str | None, outdir: Path | None, init: dict[str, Any]
) -> dict[str, Any]:
    """The options setup_tracker gives the forwarder ``name`` (``init``: wandb.init's)."""
    if name == "csv":
        return {"outdir": outdir if outdir is not None else Path.cwd()}
    if name == "wandb":
        options = {"project": project, "make_global": True, **init}
        return {"dir": outdir, **options} if outdir is not None else options
    if name == "mlflow":
        return {
            "experiment": mlflow_experiment_name(project),
            "parameters_prefix": "config.",
            "group_aggregates": True,
        }
    if name == "tensorboard" and outdir is not None:
        return {"logdir": outdir / "tensorboard"}
    return {}


def setup_tracker(
    project_name: str | None = None,
    backends: str | Sequence[str] | None = None,
    config: dict[str, Any] | None = None,
    outdir: str | os.PathLike[str] | None = None,
    rank: int | None = None,
    **kwargs: Any,
) -> Tracker:
    """A :class:`Tracker` with the named backends, as ezpz's ``setup_tracker`` builds one.

    ``backends`` (a list or "a,b") defaults to ``TRACK_TRACKER_BACKENDS``, else
    ``EZPZ_TRACKER_BACKENDS``, else "track"; ``TRACK_FORWARD`` adds forwarders. The project is
    ``project_name``, else ``WB_PROJECT``/``WANDB_PROJECT``/``WB_PROJECT_NAME``; ``run_name``
    (or ``name``) names the trial and every run; ``uri=`` names the track store;
    ``<forwarder>_options={...}`` (e.g. ``mlflow_options={"tracking_uri": ...}``) go to that
    forwarder; other keywords go to ``wandb.init`` and to registered backends (a warning names
    those nothing takes). The CSV output goes to ``outdir``, else the working directory, as in
    ezpz. Off rank 0, or with "none", it returns a :class:`NullTracker`.
    """
    rank = detect_rank().rank if rank is None else rank
    names = backend_names(backends)
    if rank != 0 or not names:
        return NullTracker()
    project = project_from_environment(project_name)
    named = kwargs.pop("name", None)
    run_name = kwargs.pop("run_name", None) or named
    uri = kwargs.pop("uri", None)
    options = {name: dict(kwargs.pop(f"{name}_options", None) or {}) for name in names}
    folder = Path(outdir) if outdir is not None else None
    if uri is not None and "track" not in names:
        log.warning("track: uri=%r is not used: 'track' is not among the backends", uri)
    if kwargs and "wandb" not in names and not any(n in _backends for n in names):
        log.warning(
            "track: setup_tracker keywords %s are not used: they go to wandb.init and to "
            "registered backends, and there is neither",
            ", ".join(map(repr, sorted(kwargs))),
        )
    forwarders: list[Forwarder] = []
    for name in names:
        if name == "track" or name in _backends:
            continue
        try:
            built = {**_forwarder_options(name, project, folder, kwargs), **options[name]}
            forwarders.append(forwarder_class(name)(**built))
        except Exception as error:  # a missing library must not stop the run
            log.warning(
                "track: tracker backend %r not available (%s: %s)",
                name,
                type(error).__name__,
                error,
            )
    client = TrackClient(uri if "track" in names else "ephemeral:", forward=forwarders)
    client.set_project(name=project or ORPHAN_PROJECT)
    trial = client.new_trial(name=run_name, parameters=dict(config or {}))
    trial.start()
    trial.flush()
    own = TrackBackend(client, trial) if "track" in names else _Driver(client, trial)
    wrappers = [
        BACKEND_CLASSES.get(f.name, ForwarderBackend).attached(f) for f in forwarders if f.enabled
    ]
    for wrapper in wrappers:
        wrapper.announce()
    custom: list[TrackerBackend] = []
    for name in names:
        if name in _backends:
            try:
                custom.append(
                    _backends.get(name)(
                        project_name=project_name, config=config, outdir=outdir, rank=rank, **kwargs
                    )
                )
            except Exception as error:  # a user backend that cannot start must not stop the run
                log.warning(
                    "track: tracker backend %r not available (%s: %s)",
                    name,
                    type(error).__name__,
                    error,
                )
    return Tracker([own, *wrappers, *custom])


class _Driver(TrackBackend):
    """The track backend when "track" is not asked for: an in-memory store feeding forwarders."""

    name = "_driver"
