"""Forward to MLflow Tracking through ``MlflowClient`` (explicit run ids, thread-safe).

The tracking URI is the ``tracking_uri`` option, else ``MLFLOW_TRACKING_URI``, else MLflow's
default. The experiment is the ``experiment`` option, else the trial's project. Points logged
without a step get the next step of their metric (MLflow needs an integer step).
"""

from __future__ import annotations

import os
from typing import Any

from track.forward.base import Forwarder, Row, flatten, table_csv
from track.structure import Trial

__all__ = ["MLflowForwarder"]

#: MLflow run status for a track status name; anything else ends the run FAILED.
RUN_STATUS = {"Completed": "FINISHED", "Interrupted": "KILLED", "Suspended": "KILLED"}
#: MLflow's cap on metrics per ``log_batch`` call.
BATCH_LIMIT = 1000


class MLflowForwarder(Forwarder):
    """One MLflow run per trial, with its parameters, tags and every metric point."""

    name = "mlflow"

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None) -> None:
        super().__init__()
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(
            tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        )
        self.experiment = experiment
        self.run_id: str | None = None
        self._next_step: dict[str, int] = {}

    def start(self, trial: Trial) -> None:
        """Create (or reuse) the experiment and start a run named after the trial."""
        name = self.experiment or trial.project_id or "track"
        found = self.client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else self.client.create_experiment(name)
        tags = {"track.uid": trial.uid, **{f"track.tag.{k}": str(v) for k, v in trial.tags.items()}}
        run = self.client.create_run(experiment_id, run_name=trial.name or trial.uid, tags=tags)
        self.run_id = run.info.run_id
        self._next_step = {}
        params = flatten(trial.parameters)
        if params:
            from mlflow.entities import Param

            entries = [Param(k, str(v)[:6000]) for k, v in params.items()]
            self.client.log_batch(self.run_id, params=entries)

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """Send every point with ``log_batch`` (up to 1000 per call)."""
        from mlflow.entities import Metric

        metrics = []
        for step, when, values in rows:
            for name, value in values.items():
                index = step if isinstance(step, int) else self._next_step.get(name, 0)
                self._next_step[name] = index + 1
                metrics.append(Metric(name, float(value), int(when * 1000), index))
        for start in range(0, len(metrics), BATCH_LIMIT):
            self.client.log_batch(self.run_id, metrics=metrics[start : start + BATCH_LIMIT])

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Tables become ``tables/<key>.csv`` artifacts; images and artifacts are uploaded."""
        if kind == "tables":
            self.client.log_text(self.run_id, table_csv(entry), f"tables/{key}.csv")
        elif kind == "images" and os.path.isfile(entry.get("path", "")):
            self.client.log_artifact(self.run_id, entry["path"], "images")
        elif kind == "artifacts" and os.path.exists(entry.get("path", "")):
            path = entry["path"]
            if os.path.isdir(path):
                self.client.log_artifacts(self.run_id, path, key)
            else:
                self.client.log_artifact(self.run_id, path, key)

    def end(self, trial: Trial, status: dict[str, Any] | None) -> None:
        """Terminate the run: FINISHED, KILLED or FAILED after the trial's status."""
        if self.run_id is None:
            return
        name = (status or {}).get("name", "Interrupted")
        self.client.set_terminated(self.run_id, RUN_STATUS.get(name, "FAILED"))
        self.run_id = None
