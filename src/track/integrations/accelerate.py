"""Hugging Face Accelerate: ``Accelerator(log_with=TrackTracker(uri=..., project=...))``.

Importing this module imports ``accelerate``; ``import track`` never does. Accelerate hands an
already built tracker none of ``init_trackers``' arguments but ``config``: the project is the
one given here. Every method runs on the main process only (``main_process_only``).
"""

from __future__ import annotations

from typing import Any

from accelerate.tracking import GeneralTracker, on_main_process  # type: ignore[import-untyped]

from track.client import TrackClient
from track.integrations._common import flatten_parameters, open_client
from track.logger import TrialLogger

__all__ = ["TrackTracker"]


class TrackTracker(GeneralTracker):  # type: ignore[misc]  # accelerate ships no type hints
    """An Accelerate tracker writing one track trial: ``init_trackers``' config as its
    parameters, each ``accelerator.log(values, step)`` as points, ``end_training`` completes it.

    ``uri``/``project`` are :class:`~track.client.TrackClient`'s; ``group`` and ``name`` place
    and name the trial; ``client_options`` go to the client.
    """

    name = "track"
    requires_logging_directory = False
    main_process_only = True

    def __init__(
        self,
        uri: str | None = None,
        project: str | None = None,
        group: str | None = None,
        run_name: str | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__()
        self._uri = uri
        self._project = project
        self._group = group
        self._run_name = run_name
        self._client_options = client_options
        self._client: TrackClient | None = None
        self._trial: TrialLogger | None = None

    @property
    def tracker(self) -> TrialLogger | None:
        """The trial's logger (None before the first config or log)."""
        return self._trial

    @on_main_process  # type: ignore[untyped-decorator]
    def start(self) -> None:
        """Open the store (called by ``init_trackers``)."""
        if self._client is None:
            self._client = open_client(self._uri, self._project, **self._client_options)
            if self._group is not None:
                self._client.set_group(name=self._group)

    def _running(self, parameters: dict[str, Any]) -> TrialLogger:
        """The trial, created with ``parameters`` and started on first use."""
        if self._trial is None:
            self.start()
            assert self._client is not None
            self._trial = self._client.new_trial(
                force=True, name=self._run_name, parameters=parameters
            )
            self._trial.start()
        return self._trial

    @on_main_process  # type: ignore[untyped-decorator]
    def store_init_configuration(self, values: dict[str, Any]) -> None:
        """Create the trial with ``values`` (flattened) as its parameters."""
        parameters = flatten_parameters(values)
        if self._trial is None:
            self._running(parameters)
        else:  # a stored trial's parameters are its identity: later ones are facts about it
            self._trial.log_metadata(configuration=parameters)

    @on_main_process  # type: ignore[untyped-decorator]
    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        """Record the numeric ``values`` at ``step``; other values go to the trial's metadata."""
        numbers = {k: v for k, v in values.items() if not isinstance(v, (str, bool))}
        others = {k: v for k, v in values.items() if isinstance(v, (str, bool))}
        trial = self._running({})
        if numbers:
            trial.log_metric_dict(numbers, step)
        if others:
            trial.log_metadata(**others)

    @on_main_process  # type: ignore[untyped-decorator]
    def finish(self) -> None:
        """Complete the trial and release the store (called by ``end_training``)."""
        if self._trial is not None:
            self._trial.finish()
            self._trial = None
        if self._client is not None:
            self._client.close()
            self._client = None
