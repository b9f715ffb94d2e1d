"""The errors track raises on purpose, all under one root: :class:`TrackError`.

Catch ``TrackError`` to handle anything track refuses or cannot do; anything else that escapes
track is a bug (the ``track`` command prints a track error as one line and exits 2, but lets a
bug show its traceback). Each class also derives from the built-in exception callers used to
catch before it existed (``ValueError``, ``KeyError``, ``TypeError``, ``ConnectionError``), so
``except KeyError`` around a lookup keeps working.

::

    TrackError
    ├── ConfigurationError (ValueError)   a URI, option or name track cannot use
    │   ├── UnknownName                   no store/forwarder/backend registered under that name
    │   ├── MissingExtra (ImportError)    an optional package a feature needs is not installed
    │   └── UnusableStore                 the URI names a foreign, damaged or too new store
    ├── NotFound (KeyError)               a trial, group, project, store or item that is not there
    ├── WriteRefused                      a store refuses a write for good (spilled, not retried)
    │   └── TrialNotFound (NotFound)      the write names a trial the store does not hold
    ├── InvalidValue (ValueError)         a value or query track cannot take (names the key)
    └── ServerError                       talking to a track server failed (see track.server)

The classes the other modules define sit under these (``track.client.TrialDoesNotExist`` is a
``NotFound``, ``track.query.QueryError`` an ``InvalidValue``, ``track.server.client``'s errors
``ServerError`` s...); docs/errors.md lists them all and what to catch.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = [
    "ConfigurationError",
    "InvalidValue",
    "MissingExtra",
    "NotFound",
    "ServerError",
    "TrackError",
    "TrialNotFound",
    "UnknownName",
    "UnusableStore",
    "WriteRefused",
    "import_extra",
]


class TrackError(Exception):
    """The root of every error track raises on purpose; anything else escaping track is a bug."""


class ConfigurationError(TrackError, ValueError):
    """A store URI, an option or a name that track cannot use as given."""


class UnknownName(ConfigurationError):
    """A scheme or name that nothing registered (the message lists the known ones)."""


class UnusableStore(ConfigurationError):
    """The URI names something track cannot use as a store: a file track did not write, a
    damaged journal, or a database whose schema is newer than this track."""


class MissingExtra(ConfigurationError, ImportError):
    """An optional package a feature needs is not installed; the message names the extra."""


def import_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, which ``purpose`` needs, or raise :class:`MissingExtra` naming ``extra``.

    Optional packages are imported when a feature is used, never by ``import track``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtra(
            f"{purpose} needs {module.split('.')[0]} ({error}): pip install 'track[{extra}]'"
        ) from None


class NotFound(TrackError, KeyError):
    """A trial, group, project, store or item that does not exist where it was looked up."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class WriteRefused(TrackError):
    """The store refuses this write for good: retrying the same write cannot succeed.

    The write pipeline spills a refused batch to a replayable file instead of retrying it;
    any other exception from a store counts as transient and is retried with backoff.
    """


class TrialNotFound(WriteRefused, NotFound):
    """A write names a trial (or its project or group) that the store does not hold."""


class InvalidValue(TrackError, ValueError):
    """A value, tag or query that track cannot store or evaluate; the message names the key."""


class ServerError(TrackError):
    """Reaching, authenticating with or talking to a track server failed."""
