"""Hugging Face Transformers: ``Trainer(..., callbacks=[TrackCallback(uri=..., project=...)])``.

Importing this module imports ``transformers``; ``import track`` never does. ``report_to="track"``
cannot work: transformers looks ``report_to`` names up in a fixed dict of its own
(``integrations.integration_utils.INTEGRATION_TO_CALLBACK``) with no public way to register
another name, so the callback is passed in ``callbacks=`` (and ``report_to="none"`` keeps the
other trackers off).
"""

from __future__ import annotations

import numbers
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from track.client import TrackClient
from track.integrations._common import flatten_parameters, open_client
from track.logger import TrialLogger

__all__ = ["TrackCallback"]


def numeric(logs: dict[str, Any]) -> dict[str, Any]:
    """The numeric entries of a Trainer's logs (it also logs strings, e.g. on the last step)."""
    return {
        key: value
        for key, value in logs.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool)
    }


class TrackCallback(TrainerCallback):
    """Records one track trial per ``Trainer.train``, on the world's main process only.

    The trial's parameters are the ``TrainingArguments`` (``args.*``) and the model's config
    (``model.*``); every ``on_log`` (training loss, learning rate, evaluation metrics) is a
    point at ``state.global_step``; the end of training completes the trial. A training run
    that raises leaves it running until the interpreter exits, which ends it in Exception.
    ``uri``/``project`` are :class:`~track.client.TrackClient`'s; ``client_options`` go to it.
    """

    def __init__(
        self,
        uri: str | None = None,
        project: str | None = None,
        group: str | None = None,
        name: str | None = None,
        **client_options: Any,
    ) -> None:
        self._uri = uri
        self._project = project
        self._group = group
        self._name = name
        self._client_options = client_options
        self._client: TrackClient | None = None
        self.trial: TrialLogger | None = None

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        """Create and start the trial with the training arguments and model config."""
        if not state.is_world_process_zero:
            return
        if self._client is None:
            self._client = open_client(self._uri, self._project, **self._client_options)
        if self._group is not None:
            self._client.set_group(name=self._group)
        parameters = {"args": flatten_parameters(args)}
        config = getattr(model, "config", None)
        if config is not None:
            parameters["model"] = flatten_parameters(config.to_dict())
        self.trial = self._client.new_trial(
            force=True, name=self._name, parameters=flatten_parameters(parameters)
        )
        self.trial.start()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record the logged numbers at the current global step."""
        if self.trial is not None and logs:
            self.trial.log_metric_dict(numeric(logs), state.global_step)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Complete the trial (recording how many steps and epochs ran)."""
        if self.trial is None:
            return
        self.trial.log_metadata(global_step=state.global_step, epoch=state.epoch)
        self.trial.finish()
        self.trial = None

    def close(self) -> None:
        """Release the store (after the last ``train``)."""
        if self._client is not None:
            self._client.close()
            self._client = None
