"""Fan a trial out to other trackers while track's own store keeps it.

Forwarders are named in code (``TrackClient(forward=["csv", "mlflow"])``) or by the
``TRACK_FORWARD`` environment variable (``TRACK_FORWARD=wandb,csv``). Each is an optional extra
whose library is imported only when it is used; installed packages add their own through the
``track.forwarders`` entry-point group. See docs/forwarding.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from track.forward.base import Forwarder, ForwarderBroken, ItemError, is_value_error
from track.forward.protocol import ForwardingProtocol, record_trial_error, safe_call
from track.registry import Registry

__all__ = [
    "FORWARDERS",
    "Forwarder",
    "ForwarderBroken",
    "ForwardingProtocol",
    "ItemError",
    "forwarder_class",
    "is_value_error",
    "make_forwarders",
    "parse_forward",
    "record_trial_error",
    "register_forwarder",
    "safe_call",
]

log = logging.getLogger("track.forward")

#: name -> Forwarder class; installed packages add names through the ``track.forwarders`` group.
FORWARDERS: Registry[type[Forwarder]] = Registry(
    "forwarder",
    group="track.forwarders",
    builtins={
        "csv": "track.forward.csv:CSVForwarder",
        "mlflow": "track.forward.mlflow:MLflowForwarder",
        "wandb": "track.forward.wandb:WandbForwarder",
        "tensorboard": "track.forward.tensorboard:TensorBoardForwarder",
        "comet": "track.forward.comet:CometForwarder",
    },
)


def register_forwarder(name: str, cls: type[Forwarder] | str) -> None:
    """Make ``name`` usable in ``forward=`` and ``TRACK_FORWARD`` (a class or "module:attr")."""
    FORWARDERS.register(name, cls)


def parse_forward(spec: str | Sequence[str | Forwarder] | None) -> list[str | Forwarder]:
    """``"wandb, csv"`` or a list as a list of names and Forwarder objects; None reads TRACK_FORWARD."""
    if spec is None:
        spec = os.environ.get("TRACK_FORWARD", "")
    if isinstance(spec, str):
        spec = [part.strip().lower() for part in spec.split(",")]
    return [item for item in spec if isinstance(item, Forwarder) or item not in ("", "none")]


def forwarder_class(name: str) -> type[Forwarder]:
    """The Forwarder class registered under ``name`` (imported now; UnknownName if none)."""
    return FORWARDERS.get(name)


def make_forwarders(
    spec: str | Sequence[str | Forwarder] | None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Forwarder]:
    """Build the named forwarders; one that cannot start is reported once and left out.

    ``options`` maps a forwarder name to its constructor keywords (``{"csv": {"outdir": ...}}``).
    """
    options = options or {}
    built: list[Forwarder] = []
    for item in parse_forward(spec):
        if isinstance(item, Forwarder):
            built.append(item)
            continue
        try:
            built.append(forwarder_class(item)(**dict(options.get(item, {}))))
        except Exception as error:  # a missing library or bad option must not stop the run
            log.warning(
                "track: forwarder %r could not start (%s: %s); continuing without it",
                item,
                type(error).__name__,
                error,
            )
    return built
