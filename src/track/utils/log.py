"""Loggers for track, all under the ``track`` namespace with a single stderr handler."""

from __future__ import annotations

import logging

from track.registry import lazy_aliases

ROOT_NAME = "track"
LOG_FORMAT = "track: %(levelname)s %(message)s"


def _root_logger() -> logging.Logger:
    """Return the ``track`` logger, installing its stderr handler the first time."""
    root = logging.getLogger(ROOT_NAME)
    if not any(getattr(handler, "_track_handler", False) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._track_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    return root


def make_logger(name: str) -> logging.Logger:
    """Return the logger ``track.<name>`` so every track message shares one handler and level."""
    root = _root_logger()
    if name == ROOT_NAME:
        return root
    if name.startswith(f"{ROOT_NAME}."):
        return logging.getLogger(name)
    return root.getChild(name)


def set_log_level(level: int = logging.INFO) -> None:
    """Set the level of every track logger at once."""
    _root_logger().setLevel(level)


#: the seeds' log record factory, kept in :mod:`track.compat.log`
__getattr__ = lazy_aliases(__name__, {"get_log_record_constructor": "track.compat.log"})
