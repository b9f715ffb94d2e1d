"""ezpz-style tracker backends: the interface, and wandb, MLflow and CSV on track's forwarders.

:class:`WandbBackend`, :class:`MLflowBackend` and :class:`CSVBackend` take ezpz's constructor
arguments and compose the way ezpz documents (``Tracker([WandbBackend(...),
CSVBackend("./logs")])``). Each wraps a track forwarder (track.forward), which does the
target-specific work; the backend gives it a run:

* **Built by the user**, a backend drives a run of its own: the run starts in the constructor
  (so ``backend.run`` is live at once, as in ezpz) and every call is handed to the forwarder in
  the caller's thread, as ezpz does. Values are sorted the way the track backend sorts them:
  numbers are metric points, anything else is kept as the run's summary (wandb summary, MLflow
  tag ``summary.<key>``, ``summary.json``), with one warning per key. Off rank 0 it does
  nothing at all (no run, no file, ``run`` is None). A run that cannot start is reported once
  and the backend does nothing after; one that breaks later (the forwarder's
  :data:`~track.forward.base.MAX_CONSECUTIVE_FAILURES` failures in a row) raises
  :class:`~track.forward.ForwarderBroken` once, which a Tracker turns into disabling it.
* **Built by setup_tracker** (:meth:`ForwarderBackend.attached`), the forwarder is fed by the
  track client's write pipeline with what the track store accepted, on its own thread; the
  backend's log methods do nothing (the track backend's calls reach it), and it exposes the
  run (``run``, ``run_url``, ``watch``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mimetypes
import os
import sys
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from track.distributed import detect_rank
from track.forward.base import Forwarder, ForwarderBroken
from track.forward.protocol import report_skipped
from track.persistence.protocol import TrialBatch
from track.serialization import UnserializableValue, jsonable, metric_value, step_value
from track.structure import Status, Trial

__all__ = [
    "PROJECT_VARIABLES",
    "SUMMARY_MAX_CHARS",
    "CSVBackend",
    "ForwarderBackend",
    "MLflowBackend",
    "TrackerBackend",
    "Values",
    "WandbBackend",
    "artifact_entries",
    "file_entry",
    "mlflow_experiment_name",
    "project_from_environment",
]

log = logging.getLogger("track.tracker")

#: A non-numeric logged value whose JSON is longer than this is refused (with a warning) rather
#: than kept in the summary (a large array logged every step would bloat the run).
SUMMARY_MAX_CHARS = 64 * 1024
#: Where ezpz looks for a project name when none is given, in this order.
PROJECT_VARIABLES = ("WB_PROJECT", "WANDB_PROJECT", "WB_PROJECT_NAME")


def project_from_environment(project_name: str | None) -> str | None:
    """``project_name``, else the first of ``WB_PROJECT``, ``WANDB_PROJECT``, ``WB_PROJECT_NAME``."""
    if project_name:
        return project_name
    return next((os.environ[n] for n in PROJECT_VARIABLES if os.environ.get(n)), None)


def mlflow_experiment_name(project_name: str | None) -> str | None:
    """ezpz's MLflow experiment: ``MLFLOW_EXPERIMENT_NAME``, else the project (as above), with
    dots made hyphens (``ezpz.examples.vit`` -> ``ezpz-examples-vit``); None if nothing names it."""
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or project_from_environment(project_name)
    return name.replace(".", "-") if name else None


def file_entry(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"path", "sha256", "size"}`` of a file (its absolute path)."""
    data = Path(path).read_bytes()
    return {
        "path": os.path.abspath(path),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def image_entry(path: str | os.PathLike[str], caption: str | None) -> dict[str, Any]:
    """:func:`file_entry` of an image, with its caption and media type."""
    entry = file_entry(path)
    entry["caption"] = caption
    entry["media_type"] = mimetypes.guess_type(str(path))[0] or "image/png"
    return entry


def artifact_entries(paths: dict[str, str]) -> dict[str, dict[str, Any]]:
    """``label -> entry`` for ``log_artifacts``: a file's :func:`file_entry`, a directory's
    ``{"path", "directory": True}``; a path that is neither is left out with a warning."""
    entries: dict[str, dict[str, Any]] = {}
    for label, path in paths.items():
        if os.path.isdir(path):
            entries[label] = {"path": os.path.abspath(path), "directory": True}
        elif os.path.isfile(path):
            entries[label] = file_entry(path)
        else:
            log.warning("track: artifact %r not kept: no file or directory at %r", label, path)
    return entries


class Values:
    """Sorts logged values the way the ezpz-style API keeps them, warning once per key.

    Numbers (numpy scalars and one-element tensors included) are metric points; any other
    JSON value is kept in :attr:`summary` (last value wins); anything else, or JSON over
    :data:`SUMMARY_MAX_CHARS`, is refused. ``kept_in`` tells the user where the summary goes,
    with ``{key}`` for the key (``"the trial's metadata summary.{key}"``).
    """

    def __init__(self, kept_in: str) -> None:
        self.kept_in = kept_in
        self.summary: dict[str, Any] = {}
        self._warned: set[str] = set()

    def sort(self, metrics: dict[str, Any]) -> tuple[dict[str, float | int], bool]:
        """The numbers of ``metrics``, and whether :attr:`summary` changed."""
        numbers: dict[str, float | int] = {}
        kept = False
        for key, value in metrics.items():
            try:
                numbers[key] = metric_value(key, value)
            except UnserializableValue:
                kept = self._keep(str(key), value) or kept
        return numbers, kept

    def _keep(self, key: str, value: Any) -> bool:
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
            "track: tracker value %r is a %s, not a number: it is kept in %s (last value "
            "wins), not as a metric",
            key,
            type(value).__name__,
            self.kept_in.format(key=key),
        )
        self.summary[key] = doc
        return True

    def _warn(self, once: str, message: str, *args: Any) -> None:
        if once not in self._warned:
            self._warned.add(once)
            log.warning(message, *args)


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


#: The status a backend's own run ends with when ``finish`` is called.
FINISHED = {"name": Status.Completed.name, "value": Status.Completed.value}


class ForwarderBackend(TrackerBackend):
    """A track forwarder seen as a tracker backend (``run``, ``run_url``, ``watch``).

    See the module docstring for its two ways of running. ``forwarder`` None is a backend that
    does nothing (off rank 0).
    """

    def __init__(self, forwarder: Forwarder | None) -> None:
        self.forwarder = forwarder
        if forwarder is not None:
            self.name = forwarder.name
        self._own: Trial | None = None
        self._finished = False
        self._values = Values("the run's summary.{key}")
        self._config: dict[str, Any] = {}

    @classmethod
    def attached(cls, forwarder: Forwarder) -> ForwarderBackend:
        """The backend of a forwarder that the track client's pipeline feeds (setup_tracker)."""
        backend = cls.__new__(cls)
        ForwarderBackend.__init__(backend, forwarder)
        return backend

    @property
    def active(self) -> bool:
        """True while the forwarder works (False off rank 0, or once it is disabled)."""
        return self.forwarder is not None and self.forwarder.enabled

    @property
    def run(self) -> Any:
        """The live run object (a wandb ``Run``, an ``mlflow.entities.Run``), or None."""
        return getattr(self.forwarder, "run", None)

    @property
    def run_url(self) -> str | None:
        """The run's page in the tracker's web UI, where it has one (else None)."""
        return self.forwarder.run_url if self.forwarder is not None else None

    def announce(self) -> None:
        """Print where the run goes (its URL when it has one) on stderr, as ezpz does."""
        text = self.forwarder.describe() if self.forwarder is not None and self.active else None
        if text:
            print(f"track: {text}", file=sys.stderr, flush=True)

    def _run_alone(
        self, name: str | None, project: str | None, config: dict[str, Any] | None
    ) -> None:
        """Start this backend's own run now (a backend built by the user), and announce it."""
        assert self.forwarder is not None
        self._own = Trial(
            _hash=uuid.uuid4().hex, name=name, project_id=project, parameters=dict(config or {})
        )
        try:
            self.forwarder.handle(self._own, TrialBatch())
        except ForwarderBroken as error:
            self._stop()
            log.warning("track: tracker backend %r %s; continuing without it", self.name, error)
            return
        self.announce()

    def _stop(self) -> None:
        """Disable the forwarder and release what it holds."""
        assert self.forwarder is not None
        self.forwarder.enabled = False
        with contextlib.suppress(Exception):  # it is broken already: release what can be
            self.forwarder.finish_current()
            self.forwarder.close()

    def _send(self, batch: TrialBatch) -> None:
        """Hand ``batch`` to the forwarder (own run only); ForwarderBroken disables it."""
        if self._own is None or not self.active:
            return
        if self._finished:
            raise RuntimeError(f"tracker backend {self.name!r} was finished; nothing is logged")
        assert self.forwarder is not None
        try:
            self.forwarder.handle(self._own, batch)
        except ForwarderBroken:
            self._stop()
            raise

    def log(self, metrics: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
        """Own run: numbers as metric points, other values to the summary (``commit`` is moot:
        each call is one row). Attached: nothing, the track backend's pipeline forwards it."""
        if self._own is None or not self.active:
            return
        numbers, kept = self._values.sort(metrics)
        when, at = time.time(), step_value(step)
        batch = TrialBatch(metrics=[(key, at, value, when) for key, value in numbers.items()])
        if kept:
            batch.metadata["summary"] = dict(self._values.summary)
        if not batch.is_empty():
            self._send(batch)

    def log_config(self, config: dict[str, Any]) -> None:
        """Own run: merge into the run's config. Attached: nothing (forwarded as metadata)."""
        if self._own is not None and self.active:
            self._config.update(config)
            self._send(TrialBatch(metadata={"config": dict(self._config)}))

    def log_table(self, key: str, columns: list[str], data: list[list[Any]]) -> None:
        """Own run: the table as the forwarder keeps tables. Attached: nothing."""
        table = {"columns": list(columns), "data": [list(row) for row in data]}
        self._send(TrialBatch(metadata={"tables": {key: table}}))

    def log_image(self, key: str, image_path: str | Path, caption: str | None = None) -> None:
        """Own run: the image as the forwarder keeps images. Attached: nothing."""
        if self._own is not None and self.active:
            self._send(TrialBatch(metadata={"images": {key: image_entry(image_path, caption)}}))

    def log_artifacts(self, paths: dict[str, str]) -> None:
        """Own run: the files as the forwarder keeps artifacts. Attached: nothing."""
        if self._own is not None and self.active:
            self._send(TrialBatch(metadata={"artifacts": artifact_entries(paths)}))

    def watch(self, model: Any, **kwargs: Any) -> None:
        """``run.watch(model, **kwargs)`` when the run supports it (wandb)."""
        run = self.run
        if run is not None and hasattr(run, "watch"):
            run.watch(model, **kwargs)

    def finish(self) -> None:
        """Own run: end it (Completed) and close the forwarder. Attached: nothing (the track
        client's close ends the forwarder)."""
        if self._own is None or self._finished or not self.active:
            return
        self._send(TrialBatch(status=dict(FINISHED)))
        self._finished = True
        assert self.forwarder is not None
        self.forwarder.close()
        report_skipped(self.forwarder, "no track store has them (add the track backend)")


def _rank(rank: int | None) -> int:
    return detect_rank().rank if rank is None else rank


def _run_name(kwargs: dict[str, Any]) -> str | None:
    """Pop ``run_name`` and ``name`` from keyword arguments: the run's name (``run_name`` first)."""
    named = kwargs.pop("name", None)
    run_name: str | None = kwargs.pop("run_name", None) or named
    return run_name


class CSVBackend(ForwarderBackend):
    """ezpz's CSV backend: ``metrics.csv`` (``step``, one column per metric) and ``config.json``
    in ``outdir``; tables as ``<key>.csv``. Only rank 0 writes (``rank`` is not detected).
    """

    name = "csv"

    def __init__(self, outdir: str | os.PathLike[str], rank: int = 0) -> None:
        from track.forward.csv import CSVForwarder

        super().__init__(CSVForwarder(outdir) if rank == 0 else None)
        self._values.kept_in = f"{os.fspath(outdir)}/summary.json"
        if rank == 0:
            self._run_alone(None, None, None)


class WandbBackend(ForwarderBackend):
    """ezpz's wandb backend: one run, ``config`` as its config, ``outdir`` its ``dir``.

    The project is ``project_name``, else ``WB_PROJECT``/``WANDB_PROJECT``/``WB_PROJECT_NAME``,
    else wandb's default; ``run_name`` (or ``name``) names the run; other keywords go to
    ``wandb.init`` (``mode``, ``entity``, ``group``, ``tags``, ...). ``rank`` (detected when
    None) other than 0 does nothing. The run becomes ``wandb.run`` unless another run is, as
    with ``wandb.init``. Metrics are plotted against ``track/step`` (see track.forward.wandb).
    """

    name = "wandb"

    def __init__(
        self,
        project_name: str | None = None,
        config: dict[str, Any] | None = None,
        outdir: str | os.PathLike[str] | None = None,
        rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        if _rank(rank) != 0:
            super().__init__(None)
            return
        from track.forward.wandb import WandbForwarder

        run_name = _run_name(kwargs)
        project = project_from_environment(project_name)
        folder = outdir if outdir is not None else os.getcwd()  # wandb's default is per process
        forwarder = WandbForwarder(
            project=project, dir=folder, make_global=True, name_from_uid=False, **kwargs
        )
        super().__init__(forwarder)
        self._values.kept_in = "the wandb run's summary[{key!r}]"
        self._run_alone(run_name, project, config)

    def watch(self, model: Any, **kwargs: Any) -> None:
        """``run.watch(model, **kwargs)``; warns when another run is ``wandb.run`` (wandb's torch
        hooks log into that one)."""
        run = self.run
        if run is None:
            return
        import wandb

        current = wandb.run
        if current is not run:
            log.warning(
                "track: wandb.run is another run (%s): wandb's torch hooks log the watched "
                "model there, not into this backend's run %s",
                getattr(current, "name", None),
                run.name,
            )
        run.watch(model, **kwargs)


class MLflowBackend(ForwarderBackend):
    """ezpz's MLflow backend: one run; ``config`` as params ``config.<key>`` (nested keys joined
    with dots), ``log_config`` as params ``<key>``.

    The tracking URI is ``MLFLOW_TRACKING_URI`` (``MLFLOW_TRACKING_TOKEN`` and
    ``MLFLOW_TRACKING_INSECURE_TLS`` apply); the experiment ``MLFLOW_EXPERIMENT_NAME``, else
    the project as :class:`WandbBackend` finds it, dots made hyphens. Keywords are
    ``mlflow.start_run``'s ``run_name`` (or ``name``), ``tags`` and ``description``; others
    raise TypeError. ``outdir`` is accepted for ezpz's signature and unused (ezpz does not use
    it either: artifacts go to the experiment's artifact location). ``rank`` (detected when
    None) other than 0 does nothing. ``run`` is the ``mlflow.entities.Run`` read from MLflow,
    ``run_url`` its page on an http(s) server.
    """

    name = "mlflow"

    def __init__(
        self,
        project_name: str | None = None,
        config: dict[str, Any] | None = None,
        outdir: str | os.PathLike[str] | None = None,
        rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        if _rank(rank) != 0:
            super().__init__(None)
            return
        from track.forward.mlflow import MLflowForwarder

        run_name = _run_name(kwargs)
        tags = kwargs.pop("tags", None)
        description = kwargs.pop("description", None)
        if kwargs:
            raise TypeError(
                f"MLflowBackend does not take {', '.join(map(repr, sorted(kwargs)))}: of "
                "mlflow.start_run's keywords it takes run_name, tags and description"
            )
        forwarder = MLflowForwarder(
            experiment=mlflow_experiment_name(project_name),
            parameters_prefix="config.",
            tags=tags,
            description=description,
            name_from_uid=False,
            group_aggregates=True,
        )
        super().__init__(forwarder)
        self._values.kept_in = "the MLflow run's tag summary.{key}"
        self._run_alone(run_name, project_from_environment(project_name), config)
