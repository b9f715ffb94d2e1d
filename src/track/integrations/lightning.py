"""PyTorch Lightning: ``Trainer(logger=TrackLogger(uri=..., project=...))``.

Importing this module imports ``lightning``; ``import track`` never does. The trial is created
on first use, on rank zero only (Lightning calls a logger's hooks there), with the model's
hyperparameters (``save_hyperparameters()``) as its parameters; ``finalize`` ends it in the
status Lightning reports.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from track.client import TrackClient
from track.integrations._common import (
    end_trial,
    final_status,
    flatten_parameters,
    log,
    open_client,
)
from track.logger import TrialLogger

__all__ = ["TrackLogger"]


class TrackLogger(Logger):
    """A Lightning logger writing one track trial per fit (its metrics, hyperparameters, status).

    ``uri`` and ``project`` are those of :class:`~track.client.TrackClient` (default
    ``TRACK_URI``, else the embedded store); ``group`` puts the trial in a group, ``name`` and
    ``tags`` describe it; ``client_options`` go to the client (pipeline options, ``forward``).
    Hyperparameters become the trial's parameters when logged before anything else (as the
    Trainer does); logged later, they are kept in its metadata (parameters define a trial).
    With ``log_checkpoints=True`` each checkpoint file Lightning saves is also stored as the
    artifact ``checkpoints/<file name>`` (content-addressed: an unchanged file is stored once).
    """

    def __init__(
        self,
        uri: str | None = None,
        project: str | None = None,
        group: str | None = None,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        log_checkpoints: bool = False,
        **client_options: Any,
    ) -> None:
        super().__init__()
        self._log_checkpoints = log_checkpoints
        self._uri = uri
        self._project = project
        self._group = group
        self._name = name
        self._tags = dict(tags or {})
        self._client_options = client_options
        self._client: TrackClient | None = None
        self._trial: TrialLogger | None = None
        self._stored = False

    @property
    def name(self) -> str:
        """The project's name (Lightning shows it beside the version)."""
        return self._project or "track"

    @property
    def version(self) -> str | None:
        """The trial's uid once it is stored (None before: its parameters decide its uid)."""
        if self._trial is None or not self._stored:
            return None
        return self._trial.uid

    @property
    @rank_zero_experiment
    def experiment(self) -> TrialLogger:
        """The trial's :class:`~track.logger.TrialLogger`, for anything else to log.

        The Trainer reads it before logging hyperparameters: the trial is then still pending
        (stored on its first write), so the hyperparameters can still become its parameters.
        """
        if self._trial is None:
            if self._client is None:
                self._client = open_client(self._uri, self._project, **self._client_options)
            if self._group is not None:
                self._client.set_group(name=self._group)
            self._trial = self._client.new_trial(force=True, name=self._name, tags=self._tags)
        return self._trial

    def _running(self) -> TrialLogger:
        """The trial, (re)started if not running (a fit after a finished fit restarts it)."""
        trial: TrialLogger = self.experiment
        if not trial.is_running:
            trial.start()
            self._stored = True
        return trial

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Record hyperparameters: the trial's parameters if it is not stored yet, else (they
        define a stored trial's identity) its metadata."""
        parameters = flatten_parameters(params)
        trial: TrialLogger = self.experiment
        try:
            trial.log_arguments(**parameters)
        except RuntimeError:
            log.warning("track: the trial exists already; hyperparameters go to its metadata")
            trial.log_metadata(hyperparameters=parameters)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metric values at ``step`` (Lightning's count of optimizer steps)."""
        self._running().log_metric_dict(dict(metrics), step)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """Record where the checkpoints are (paths and best score) in the trial's metadata, and
        store the files as artifacts when ``log_checkpoints``."""
        if self._trial is None:
            return
        if self._log_checkpoints:
            paths = {checkpoint_callback.best_model_path, checkpoint_callback.last_model_path}
            for path in sorted(p for p in paths if p and os.path.isfile(p)):
                self._trial.log_artifact(path, name=f"checkpoints/{os.path.basename(path)}")
        score = checkpoint_callback.best_model_score
        self._trial.log_metadata(
            checkpoints={
                "best_model_path": checkpoint_callback.best_model_path,
                "best_model_score": None if score is None else float(score),
                "last_model_path": checkpoint_callback.last_model_path,
            }
        )

    def save(self) -> None:
        """Nothing to do: Lightning calls this after every ``log_metrics``, and waiting for the
        store there would cost each logging step a commit; the write pipeline stores the
        points within ``flush_interval`` and :meth:`finalize` waits for all of them."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End the trial: Completed on "success", Exception on "failed" (Lightning's states)."""
        if self._trial is not None and self._trial.is_running:
            end_trial(self._trial, final_status(status))

    def close(self) -> None:
        """Finish a trial still running and release the store (the Trainer never calls it)."""
        if self._trial is not None and self._trial.is_running:
            self._trial.finish()
        if self._client is not None:
            self._client.close()
            self._client = None
            self._trial = None
            self._stored = False
