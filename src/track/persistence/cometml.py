"""Comet.ml: a ``comet://workspace/project`` store and a ``comet`` forwarder (``comet_ml``).

The store keeps the trials of this process in memory (reads answer from there) and forwards
every write to Comet. With ``?offline_directory=DIR`` in the URI (or the forwarder's
``offline_directory`` option, or ``COMET_OFFLINE_DIRECTORY``) Comet's offline mode writes one
zip archive per trial into DIR, which ``comet upload`` sends later.
"""

from __future__ import annotations

import os
from typing import Any

from track.forward.base import Forwarder, Row, flatten, table_csv
from track.forward.protocol import ForwardingProtocol
from track.persistence.memory import EphemeralProtocol
from track.persistence.utils import URI, parse_uri
from track.structure import Trial

__all__ = ["CometForwarder", "CometProtocol"]

#: Experiment keywords that keep Comet from logging anything track did not log.
QUIET = {
    "auto_output_logging": False,
    "auto_metric_logging": False,
    "auto_param_logging": False,
    "log_env_details": False,
    "log_git_metadata": False,
    "log_git_patch": False,
    "log_env_gpu": False,
    "log_env_host": False,
    "log_env_cpu": False,
    "log_code": False,
    "parse_args": False,
    "display_summary_level": 0,
}


class CometForwarder(Forwarder):
    """One Comet experiment per trial: parameters, every metric point, tables and assets."""

    name = "comet"

    def __init__(
        self,
        workspace: str | None = None,
        project: str | None = None,
        offline_directory: str | None = None,
        api_key: str | None = None,
    ) -> None:
        super().__init__()
        import comet_ml

        self.comet_ml = comet_ml
        self.workspace = workspace
        self.project = project
        self.offline_directory = offline_directory or os.environ.get("COMET_OFFLINE_DIRECTORY")
        self.api_key = api_key
        self.experiment: Any = None

    def start(self, trial: Trial) -> None:
        """Create an (offline) experiment named after the trial, with its parameters."""
        options: dict[str, Any] = {
            "project_name": self.project or trial.project_id,
            "workspace": self.workspace,
            **QUIET,
        }
        if self.offline_directory:
            os.makedirs(self.offline_directory, exist_ok=True)
            options["offline_directory"] = self.offline_directory
            self.experiment = self.comet_ml.OfflineExperiment(**options)
        else:
            self.experiment = self.comet_ml.Experiment(api_key=self.api_key, **options)
        self.experiment.set_name(trial.name or trial.uid)
        self.experiment.log_other("track_uid", trial.uid)
        if trial.parameters:
            self.experiment.log_parameters(flatten(trial.parameters))
        if trial.tags:
            self.experiment.add_tags([f"{k}={v}" for k, v in trial.tags.items()])

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """``log_metrics`` once per log call, at its step."""
        for step, _, values in rows:
            self.experiment.log_metrics(values, step=step)

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Tables with ``log_table``, images with ``log_image``, artifacts with ``log_asset``."""
        if kind == "tables":
            self.experiment.log_asset_data(table_csv(entry), name=f"{key}.csv")
        elif kind == "images" and os.path.isfile(entry.get("path", "")):
            self.experiment.log_image(entry["path"], name=key)
        elif kind == "artifacts" and os.path.isfile(entry.get("path", "")):
            self.experiment.log_asset(
                entry["path"], file_name=f"{key}/{os.path.basename(entry['path'])}"
            )

    def end(self, trial: Trial, status: dict[str, Any] | None) -> None:
        """End the experiment (offline: write its archive)."""
        if self.experiment is not None:
            self.experiment.end()
            self.experiment = None


class CometProtocol(ForwardingProtocol):
    """The ``comet://workspace/project`` store: in-memory reads, every write sent to Comet."""

    def __init__(self, uri: str | URI, **options: Any) -> None:
        parsed = parse_uri(uri)
        project = parsed.path.strip("/") or None
        options = {**parsed.query, **options}
        forwarder = CometForwarder(workspace=parsed.address, project=project, **options)
        super().__init__(EphemeralProtocol(parse_uri("ephemeral:")), [forwarder])
