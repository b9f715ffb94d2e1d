"""Forward to MLflow Tracking through ``MlflowClient`` (explicit run ids, thread-safe).

The tracking URI is the ``tracking_uri`` option, else ``MLFLOW_TRACKING_URI``, else MLflow's
default; MLflow itself sends ``MLFLOW_TRACKING_TOKEN`` as a bearer token and honours
``MLFLOW_TRACKING_INSECURE_TLS`` (with it set, urllib3's per-request warning is replaced by one
warning of ours). The experiment is the ``experiment`` option, else ``MLFLOW_EXPERIMENT_NAME``,
else the trial's project. The run is named after the trial; its parameters become params
(nested keys flattened with dots, under ``parameters_prefix``), metadata ``config`` (the
ezpz-style ``log_config``) more params, metadata ``summary`` (values that are not numbers)
tags ``summary.<key>``. Points logged without a step get the next step of their metric (MLflow
needs an integer step). With ``group_aggregates`` (the ezpz-style backends, as ezpz does), a
metric logged in the same call as its distributed aggregates (``loss`` with ``loss/mean``,
``/min``, ``/max`` or ``/std``) is sent as ``loss/local``, so MLflow groups the five.

Edits made in track reach the runs this forwarder made in this process: a display name renames
the run (``mlflow.runName``; "" gives back its first name), a note becomes its description (tag
``mlflow.note.content``), removed tags are deleted (``track.tag.<name>``). A deleted trial's run
is tagged ``track.deleted=true`` and kept; with ``delete_runs=True`` it is deleted instead
(MLflow's soft delete: ``mlflow runs restore`` brings it back until ``mlflow gc``). An edit
MLflow refuses for that run (deleted in MLflow meanwhile, a value it does not accept) is
skipped with a warning (:class:`ItemError`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from track.forward.base import (
    DELETION,
    DISPLAY,
    TAG_REMOVAL,
    Forwarder,
    ItemError,
    Row,
    flatten,
    table_csv,
)
from track.structure import Trial

__all__ = ["DELETED_TAG", "NOTE_TAG", "MLflowForwarder", "insecure_tls", "local_names"]

log = logging.getLogger("track.forward")

#: MLflow run status for a track status name; anything else ends the run FAILED.
RUN_STATUS = {"Completed": "FINISHED", "Interrupted": "KILLED", "Suspended": "KILLED"}
#: MLflow's caps: metrics, and params plus tags, per ``log_batch`` call; characters per value.
BATCH_LIMIT = 1000
PARAMS_PER_BATCH = 100
PARAM_MAX_CHARS = 6000
TAG_MAX_CHARS = 8000
#: Suffixes of the distributed aggregates of a metric (``trial.log_metrics(..., reduce=True)``).
AGGREGATE_SUFFIXES = ("/mean", "/min", "/max", "/std")
#: Values of ``MLFLOW_TRACKING_INSECURE_TLS`` that turn certificate checks off.
TRUE = ("true", "1", "yes")
#: The run tag MLflow shows as the run's description (a trial's note).
NOTE_TAG = "mlflow.note.content"
#: Prefix of the run tags holding the trial's tags.
TAG_PREFIX = "track.tag."
#: The tag (value "true") a run gets when its trial is deleted in track, unless ``delete_runs``.
DELETED_TAG = "track.deleted"
#: MLflow error codes that refuse one edit of one run; any other error is a failure.
REFUSED = ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "INVALID_STATE")


def insecure_tls() -> bool:
    """True when ``MLFLOW_TRACKING_INSECURE_TLS`` asks MLflow not to verify TLS certificates."""
    return os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").strip().lower() in TRUE


def local_names(values: dict[str, float]) -> dict[str, float]:
    """``values`` with each metric whose aggregates are among them renamed ``<name>/local``."""
    grouped = {n.rsplit("/", 1)[0] for n in values if n.endswith(AGGREGATE_SUFFIXES)}
    return {(f"{n}/local" if n in grouped else n): v for n, v in values.items()}


class MLflowForwarder(Forwarder):
    """One MLflow run per trial, with its parameters, config, tags and every metric point.

    ``tags`` are set on the run as given and ``description`` becomes its note (both as
    ``mlflow.start_run`` takes them). A trial without a name gives its uid as the run's name,
    unless ``name_from_uid`` is False (MLflow then makes one up). ``delete_runs`` (off by
    default) deletes the run of a trial deleted in track instead of tagging it.
    """

    name = "mlflow"
    edits = frozenset({DISPLAY, TAG_REMOVAL, DELETION})

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        parameters_prefix: str = "",
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        name_from_uid: bool = True,
        group_aggregates: bool = False,
        delete_runs: bool = False,
    ) -> None:
        super().__init__()
        import mlflow
        from mlflow.tracking import MlflowClient

        if insecure_tls():
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning(
                "track: MLFLOW_TRACKING_INSECURE_TLS is set: MLflow does not verify the "
                "tracking server's TLS certificate (urllib3's per-request warning is silenced)"
            )
        self.tracking_uri = (
            tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or mlflow.get_tracking_uri()
        )
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self.experiment = experiment
        self.parameters_prefix = parameters_prefix
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.description = description
        self.name_from_uid = name_from_uid
        self.group_aggregates = group_aggregates
        self.delete_runs = delete_runs
        #: the current run's id (after it ended, the last run's, for ``run`` and ``run_url``)
        self.run_id: str | None = None
        self.run_name: str | None = None
        self._open = False
        self.experiment_id: str | None = None
        self.experiment_name: str | None = None
        self._next_step: dict[str, int] = {}
        self._params: dict[str, str] = {}
        self._summary: dict[str, str] = {}

    def start(self, trial: Trial) -> None:
        """Create (or reuse) the experiment and start a run named after the trial."""
        name = (
            self.experiment
            or os.environ.get("MLFLOW_EXPERIMENT_NAME")
            or trial.project_id
            or "track"
        )
        found = self.client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else self.client.create_experiment(name)
        tags = {
            "track.uid": trial.uid,
            **{f"{TAG_PREFIX}{k}": str(v) for k, v in trial.tags.items()},
        }
        tags.update(self.tags)
        if self.description:
            tags[NOTE_TAG] = self.description
        run_name = trial.name or (trial.uid if self.name_from_uid else None)
        run = self.client.create_run(experiment_id, run_name=run_name, tags=tags)
        self.run_id, self.run_name, self._open = run.info.run_id, run.info.run_name, True
        self.remember(trial, (run.info.run_id, run.info.run_name))
        self.experiment_id, self.experiment_name = experiment_id, name
        self._next_step, self._params, self._summary = {}, {}, {}
        self._log_params(flatten(trial.parameters, self.parameters_prefix))

    @property
    def _started_run_id(self) -> str:
        """The current run's id: a forwarder is sent nothing before ``start`` opened a run."""
        assert self.run_id is not None, "start() opens the run before anything is logged"
        return self.run_id

    @property
    def run(self) -> Any:
        """The run (``mlflow.entities.Run``, read from MLflow now), or None before any."""
        return self.client.get_run(self.run_id) if self.run_id else None

    @property
    def run_url(self) -> str | None:
        """The run's page on an http(s) tracking server (None for a local store)."""
        if self.run_id is None or not self.tracking_uri.startswith(("http://", "https://")):
            return None
        base = self.tracking_uri.rstrip("/")
        return f"{base}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def describe(self) -> str | None:
        """Run name and id, experiment, and its URL or tracking URI."""
        if self.run_id is None:
            return None
        where = self.run_url and f"at {self.run_url}"
        where = where or f"in {self.tracking_uri} (see it with: mlflow ui)"
        return (
            f"mlflow run {self.run_name!r} ({self.run_id}) of experiment "
            f"{self.experiment_name!r} {where}"
        )

    def _param_text(self, key: str, value: Any) -> str:
        text = str(value)
        if len(text) > PARAM_MAX_CHARS:
            log.warning(
                "track: MLflow param %r is %d characters, over MLflow's %d: its start only "
                "is logged (the track store keeps the whole value)",
                key,
                len(text),
                PARAM_MAX_CHARS,
            )
            text = text[:PARAM_MAX_CHARS]
        return text

    def _log_params(self, values: dict[str, Any]) -> None:
        """Log the new params; one already logged with another value raises ItemError (MLflow
        params never change), after the new ones are logged."""
        from mlflow.entities import Param

        new: dict[str, str] = {}
        changed: list[str] = []
        for key, value in values.items():
            if key not in self._params:
                new[key] = self._param_text(key, value)
            elif self._params[key] != str(value)[:PARAM_MAX_CHARS]:
                changed.append(key)
        entries = [Param(k, v) for k, v in new.items()]
        for start in range(0, len(entries), PARAMS_PER_BATCH):
            chunk = entries[start : start + PARAMS_PER_BATCH]
            self.client.log_batch(self._started_run_id, params=chunk)
        self._params.update(new)
        if changed:
            raise ItemError(
                f"MLflow params cannot change: {', '.join(map(repr, changed))} kept the first "
                "value logged"
            )

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """Send every point with ``log_batch`` (up to 1000 per call)."""
        from mlflow.entities import Metric

        metrics = []
        for step, when, values in rows:
            if self.group_aggregates:
                values = local_names(values)
            for name, value in values.items():
                index = step if isinstance(step, int) else self._next_step.get(name, 0)
                self._next_step[name] = index + 1
                metrics.append(Metric(name, float(value), int(when * 1000), index))
        for start in range(0, len(metrics), BATCH_LIMIT):
            self.client.log_batch(
                self._started_run_id, metrics=metrics[start : start + BATCH_LIMIT]
            )

    def log_metadata(self, trial: Trial, metadata: dict[str, Any]) -> None:
        """``config`` as more params (flattened), ``summary`` values as tags ``summary.<key>``."""
        summary = metadata.get("summary")
        if isinstance(summary, dict):
            self._log_summary(summary)
        config = metadata.get("config")
        if isinstance(config, dict):
            self._log_params(flatten(config))

    def _log_summary(self, summary: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        tags: list[Any] = []
        too_long: list[str] = []
        for key, value in summary.items():
            text = value if isinstance(value, str) else json.dumps(value)
            if len(text) > TAG_MAX_CHARS:
                too_long.append(key)
            elif self._summary.get(key) != text:
                tags.append(RunTag(f"summary.{key}", text))
                self._summary[key] = text
        for start in range(0, len(tags), PARAMS_PER_BATCH):
            self.client.log_batch(self._started_run_id, tags=tags[start : start + PARAMS_PER_BATCH])
        if too_long:
            raise ItemError(
                f"summary values {', '.join(map(repr, too_long))} are over MLflow's "
                f"{TAG_MAX_CHARS} characters for a tag"
            )

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Tables become ``tables/<key>.csv`` artifacts; images and artifacts are uploaded."""
        if kind == "tables":
            self.client.log_text(self._started_run_id, table_csv(entry), f"tables/{key}.csv")
        elif kind == "images" and os.path.isfile(entry.get("path", "")):
            self.client.log_artifact(self._started_run_id, entry["path"], "images")
        elif kind == "artifacts" and os.path.exists(entry.get("path", "")):
            path = entry["path"]
            if os.path.isdir(path):
                self.client.log_artifacts(self._started_run_id, path, key)
            else:
                self.client.log_artifact(self._started_run_id, path, key)

    def _edit_runs(self, uid: str, edit: Callable[[str, str], None]) -> None:
        """``edit(run_id, first_name)`` on every run of trial ``uid``.

        Runs MLflow refuses the edit for (see :data:`REFUSED`) are named in one
        :class:`ItemError` after the others were edited.
        """
        from mlflow.exceptions import MlflowException

        refused: list[str] = []
        for run_id, first_name in self.forwarded.get(uid, []):
            try:
                edit(run_id, first_name)
            except MlflowException as error:
                if error.error_code not in REFUSED:
                    raise
                refused.append(f"run {run_id}: {error.message}")
        if refused:
            raise ItemError(f"MLflow refused the edit ({'; '.join(refused)})")

    def _delete_tags(self, run_id: str, keys: Sequence[str]) -> None:
        """Delete those of the tags ``keys`` the run has (MLflow refuses a missing one)."""
        present = self.client.get_run(run_id).data.tags
        for key in keys:
            if key in present:
                self.client.delete_tag(run_id, key)

    def set_display(self, uid: str, name: str | None, note: str | None) -> None:
        """Rename the runs ("" gives back their first name); the note becomes their description."""

        def apply(run_id: str, first_name: str) -> None:
            if name is not None:
                self.client.update_run(run_id, name=name or first_name)
                if run_id == self.run_id:
                    self.run_name = name or first_name
            if note:
                self.client.set_tag(run_id, NOTE_TAG, note)
            elif note is not None:
                self._delete_tags(run_id, [NOTE_TAG])

        self._edit_runs(uid, apply)

    def remove_tags(self, uid: str, names: Sequence[str]) -> None:
        """Delete the runs' tags ``track.tag.<name>``."""
        keys = [f"{TAG_PREFIX}{name}" for name in names]
        self._edit_runs(uid, lambda run_id, _: self._delete_tags(run_id, keys))

    def delete(self, uid: str) -> None:
        """Tag the runs ``track.deleted=true``; with ``delete_runs``, delete them (soft)."""

        def apply(run_id: str, _: str) -> None:
            if self.delete_runs:
                self.client.delete_run(run_id)
            else:
                self.client.set_tag(run_id, DELETED_TAG, "true")

        self._edit_runs(uid, apply)

    def end(self, trial: Trial, status: dict[str, Any] | None) -> None:
        """Terminate the run: FINISHED, KILLED or FAILED after the trial's status."""
        if not self._open:
            return
        name = (status or {}).get("name", "Interrupted")
        self._open = False
        self.client.set_terminated(self._started_run_id, RUN_STATUS.get(name, "FAILED"))
