"""What every framework adapter shares: opening a client, turning a config into parameters,
and ending a trial in the status the framework reports."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import logging
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from track.client import TrackClient
from track.logger import TrialLogger
from track.structure import AnyStatus, CustomStatus, Status

log = logging.getLogger("track.integrations")

#: Optuna's pruned trials: stopped early on purpose, a finished (3xx) outcome, not an error
PRUNED = CustomStatus("Pruned", 303)

#: a framework's final state (lower-cased) -> the status the track trial ends in
_STATUSES: dict[str, AnyStatus] = {
    "success": Status.Completed,
    "complete": Status.Completed,
    "completed": Status.Completed,
    "finished": Status.Completed,
    "failed": Status.Exception,
    "fail": Status.Exception,
    "error": Status.Exception,
    "aborted": Status.Interrupted,
    "interrupted": Status.Interrupted,
    "killed": Status.Interrupted,
    "pruned": PRUNED,
}


def open_client(uri: str | None, project: str | None, **options: Any) -> TrackClient:
    """A client on ``uri`` (default ``TRACK_URI``, else the embedded store) with ``project`` set.

    ``options`` are :class:`~track.client.TrackClient` keywords (pipeline options, ``forward``).
    """
    client = TrackClient(uri, **options)
    if project is not None:
        client.set_project(name=project)
    return client


def _parameter(value: Any) -> Any:
    """A config value as something a trial's parameters can hold (JSON-native, else its text)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return _parameter(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_parameter(item) for item in value]
    item = getattr(value, "item", None)  # numpy and torch scalars
    if callable(item) and getattr(value, "ndim", None) == 0:
        return _parameter(item())
    if callable(value):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", repr(value))
    return str(value)


def flatten_parameters(config: Any, separator: str = ".") -> dict[str, Any]:
    """A config (dict, Namespace, object with ``to_dict``, dataclass) as flat parameters.

    Nested mappings become dotted keys (``{"opt": {"lr": 1}}`` -> ``{"opt.lr": 1}``); values
    a trial cannot store as JSON (dtypes, enums, paths, callables) are kept as their text, so
    that a framework's whole config is recorded rather than refused.
    """
    if config is None:
        return {}
    if isinstance(config, argparse.Namespace):
        config = vars(config)
    elif not isinstance(config, Mapping) and callable(getattr(config, "to_dict", None)):
        config = config.to_dict()  # the object's own export (transformers' hides its tokens)
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    if not isinstance(config, Mapping):
        raise TypeError(f"a config is a mapping, a Namespace or a dataclass, not {config!r}")
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            for inner, item in flatten_parameters(value, separator).items():
                flat[f"{key}{separator}{inner}"] = item
        else:
            flat[str(key)] = _parameter(value)
    return flat


def final_status(state: str) -> AnyStatus:
    """The track status for a framework's final state ("success", "failed", "pruned", ...)."""
    found = _STATUSES.get(state.lower())
    if found is None:
        log.warning("track: unknown final state %r; the trial ends as Completed", state)
        return Status.Completed
    return found


def end_trial(trial: TrialLogger, status: AnyStatus, error: str | None = None) -> None:
    """Finish ``trial`` (runtime, end time, flush) in ``status``, recording ``error`` if given."""
    trial.finish(status=status, error=error)
