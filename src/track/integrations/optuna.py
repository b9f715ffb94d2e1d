"""Optuna: ``study.optimize(objective, callbacks=[TrackCallback(uri=..., project=...)])``.

Importing this module imports ``optuna``; ``import track`` never does. Each finished Optuna
trial becomes a track trial in the group named after the study: its parameters, its
intermediate values as a metric series, its final value, and its state as the trial's status
(complete: Completed, pruned: ``Pruned`` (a finished status), fail: Exception).

Optuna's own storage stays the storage of record: its RDB storage already coordinates parallel
workers through SQL (trial numbering, the sampler's and pruner's reads of the other trials),
which a track-backed ``BaseStorage`` would have to reimplement; track records the outcome.
"""

from __future__ import annotations

import threading
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from track.client import TrackClient
from track.integrations._common import PRUNED, flatten_parameters, open_client
from track.structure import AnyStatus, Status

__all__ = ["TrackCallback"]

_STATES: dict[TrialState, AnyStatus] = {
    TrialState.COMPLETE: Status.Completed,
    TrialState.PRUNED: PRUNED,
    TrialState.FAIL: Status.Exception,
}


class TrackCallback:
    """An Optuna study callback recording every finished trial as a track trial.

    ``uri``/``project`` are :class:`~track.client.TrackClient`'s; ``metric_name`` names the
    metric holding the intermediate values and the final value (``metric_names`` for a
    multi-objective study, one per objective; default ``value0``, ``value1``...). Safe with ``n_jobs > 1`` (one lock).
    """

    def __init__(
        self,
        uri: str | None = None,
        project: str | None = None,
        metric_name: str = "value",
        metric_names: list[str] | None = None,
        **client_options: Any,
    ) -> None:
        self._uri = uri
        self._project = project
        self._metric_name = metric_name
        self._metric_names = metric_names
        self._client_options = client_options
        self._client: TrackClient | None = None
        self._lock = threading.Lock()

    def __call__(self, study: optuna.Study, frozen: FrozenTrial) -> None:
        """Record ``frozen`` (a finished trial of ``study``) in the study's group."""
        with self._lock:
            if self._client is None:
                self._client = open_client(self._uri, self._project, **self._client_options)
            self._client.set_group(name=study.study_name, force=True)
            trial = self._client.new_trial(
                force=True,
                name=f"{study.study_name}-{frozen.number}",
                parameters=flatten_parameters(frozen.params),
            )
        trial.log_metadata(
            optuna_trial_number=frozen.number,
            optuna_state=frozen.state.name,
            start_time=frozen.datetime_start.timestamp() if frozen.datetime_start else None,
            end_time=frozen.datetime_complete.timestamp() if frozen.datetime_complete else None,
            user_attrs=flatten_parameters(frozen.user_attrs),
        )
        for step, value in sorted(frozen.intermediate_values.items()):
            trial.log_metric_dict({self._metric_name: value}, step)
        if frozen.values is not None:
            names = self._metric_names or [
                f"{self._metric_name}{i}" if len(frozen.values) > 1 else self._metric_name
                for i in range(len(frozen.values))
            ]
            last = frozen.last_step  # the final value follows the intermediate ones
            final = None if last is None else last + 1
            trial.log_metric_dict(dict(zip(names, frozen.values, strict=True)), final)
        # Optuna (5.x) keeps no failure message with a trial: it logs it, and so has none to give
        trial.set_status(_STATES.get(frozen.state, Status.Broken))
        trial.flush()

    def close(self) -> None:
        """Flush and release the store (after the last ``optimize``)."""
        if self._client is not None:
            self._client.close()
            self._client = None
