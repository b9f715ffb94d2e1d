"""Configuration: a ``track.config`` JSON file, overridden by ``TRACK_<KEY>`` environment variables.

Keys are dotted (``log.backend.name``); the file nests them
(``{"log": {"backend": {"name": "..."}}}``) and the environment flattens them
(``TRACK_LOG_BACKEND_NAME``). Environment values are parsed as JSON when they parse,
so ``TRACK_FLUSH_INTERVAL=0.5`` is a float, and kept as strings otherwise.
"""

from __future__ import annotations

import json
import os
from typing import Any

from track.errors import ConfigurationError, NotFound

__all__ = ["DEFAULT_URI", "default_uri", "find_configuration", "options", "reset_configuration"]

CONFIG_FILE = "track.config"
#: The embedded store used when no URI is given (nor ``TRACK_URI``, nor ``uri`` in track.config).
DEFAULT_URI = "sqlite:///track.db"

_cache: dict[str, dict[str, Any]] = {}


class _DefaultNone:
    """Marks an option read without a default, so None can itself be a default."""


_NO_DEFAULT = _DefaultNone()


def find_configuration(file: str | None = None) -> dict[str, Any]:
    """Load the configuration file (``file``, ``TRACK_CONFIG``, or ./track.config); {} if none."""
    path = file or os.environ.get("TRACK_CONFIG") or os.path.join(os.getcwd(), CONFIG_FILE)
    if path in _cache:
        return _cache[path]
    config: dict[str, Any] = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            try:
                config = json.load(handle)
            except json.JSONDecodeError as error:
                raise ConfigurationError(f"{path} is not valid JSON: {error}") from None
        if not isinstance(config, dict):
            raise ConfigurationError(f"{path} must hold a JSON object")
    _cache[path] = config
    return config


def reset_configuration() -> None:
    """Forget loaded configuration files so the next read sees changes on disk."""
    _cache.clear()


def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def options(key: str, default: Any = _NO_DEFAULT) -> Any:
    """The value of a dotted option key: environment first, then the file, then ``default``."""
    env_name = "TRACK_" + key.upper().replace(".", "_")
    if env_name in os.environ:
        return _env_value(os.environ[env_name])
    value: Any = find_configuration()
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            if default is _NO_DEFAULT:
                raise NotFound(f"no option {key!r} (set {env_name} or {key} in {CONFIG_FILE})")
            return default
        value = value[part]
    return value


def default_uri() -> str:
    """The store URI when none is given: ``TRACK_URI`` (or track.config's ``uri``), else
    :data:`DEFAULT_URI`; ``TrackClient()``, the read commands and ``track.runs()`` agree."""
    return str(options("uri", DEFAULT_URI))
