"""One exception hierarchy: every error class track defines is a ``track.errors.TrackError``.

The walk imports every module of ``track`` (those whose optional dependencies are installed)
and checks each exception class defined there; the seeds' names stay importable and are caught
as the class they now belong to; a store's error reaches a server's client on the same branch.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import track
from optional import require
from server.trackserver import running_server
from track.errors import (
    ConfigurationError,
    InvalidValue,
    NotFound,
    ServerError,
    TrackError,
)
from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.structure import Trial

#: Exception classes that are deliberately not TrackErrors, with the reason.
INTERNAL = {
    # Control flow inside one server connection's handler, which catches both and logs the
    # message; one escaping the handler would be a bug, so it must not look like a track error.
    "track.server.server.Refused",
    "track.server.server.Dropped",
}


def _modules() -> tuple[list[str], list[str]]:
    """The importable modules of ``track``, and those skipped for a missing optional package."""
    imported, skipped = [], []
    for info in pkgutil.walk_packages(track.__path__, "track."):
        if info.name.rsplit(".", 1)[-1] == "__main__":  # running it would run the command
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as error:
            if (error.name or "").split(".")[0] == "track":
                raise
            skipped.append(info.name)
            continue
        imported.append(info.name)
    return imported, skipped


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of ``track``, by its dotted path."""
    found = {}
    for name in _modules()[0]:
        for value in vars(importlib.import_module(name)).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
            ):
                found[f"{name}.{value.__qualname__}"] = value
    return found


def test_every_exception_class_is_a_track_error() -> None:
    """Outside the commented allow-list, each exception class derives from TrackError."""
    classes = _exception_classes()
    outside = {path for path, cls in classes.items() if not issubclass(cls, TrackError)}
    assert outside == INTERNAL
    assert len(classes) > 30  # the walk really saw track's modules


@pytest.mark.parametrize(
    ("path", "built_in"),
    [
        ("track.server.client.ServerUnreachable", ConnectionError),
        ("track.server.client.RemoteKeyError", KeyError),
        ("track.server.client.RemoteValueError", ValueError),
        ("track.server.client.RemoteTypeError", TypeError),
        ("track.server.client.RemoteNotImplementedError", NotImplementedError),
        ("track.server.crypto.HandshakeError", ValueError),
        ("track.server.known.ServerKeyChanged", ValueError),
        ("track.server.wire.FrameError", ValueError),
        ("track.persistence.existing.StoreNotFound", ValueError),
        ("track.persistence.sql.schema.NewerSchema", RuntimeError),
        ("track.query.QueryError", ValueError),
        ("track.structure.TagConflict", ValueError),
        ("track.serialization.UnserializableValue", TypeError),
        ("track.compat.cockroachdb.CockroachNotFound", FileNotFoundError),
        ("track.forward.base.ItemError", ValueError),
        ("track.forward.base.ForwarderBroken", RuntimeError),
    ],
)
def test_built_in_bases_are_kept(path: str, built_in: type[BaseException]) -> None:
    """A class keeps the built-in base it had, so ``except ValueError`` & co. still catch it."""
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, TrackError) and issubclass(cls, built_in)


@pytest.mark.parametrize(
    ("module", "name", "family"),
    [
        ("track", "TrialDoesNotExist", NotFound),
        ("track.client", "TrialDoesNotExist", NotFound),
        ("track.utils", "ItemNotFound", NotFound),
        ("track.persistence.existing", "StoreNotFound", NotFound),
        ("track.persistence.socketed", "RPCCallFailure", ServerError),
        ("track.persistence.socketed", "ServerUnreachable", ServerError),
        ("track.persistence.socketed", "AuthenticationFailed", ServerError),
        ("track.utils.delay", "FutureIsNotReady", TrackError),
        ("track.persistence.local", "ConcurrentWrite", TrackError),
        ("track.cli", "UserError", ConfigurationError),
    ],
)
def test_seed_names_are_caught_as_their_family(
    module: str, name: str, family: type[TrackError]
) -> None:
    """The seeds' names still import from their documented paths; raising one is caught by
    ``except`` of its family (and of TrackError)."""
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(family):
        raise cls("raised")
    assert issubclass(cls, TrackError)


def test_item_not_found_is_the_one_not_found_error() -> None:
    """The seeds' ItemNotFound is NotFound itself, not a second not-found class."""
    from track.utils import ItemNotFound

    assert ItemNotFound is NotFound


def test_set_trial_of_an_unknown_uid_is_a_not_found(tmp_path: Path) -> None:
    """A real store: resuming a uid it does not hold raises a NotFound (also a KeyError)."""
    from track.client import TrackClient

    client = TrackClient(f"sqlite:///{tmp_path / 'runs.db'}")
    try:
        with pytest.raises(NotFound, match="no trial"):
            client.set_trial(uid="ffff_0")
        with pytest.raises(KeyError):
            client.set_trial(uid="not-a-uid")
    finally:
        client.close()


@pytest.mark.parametrize(
    ("raised", "family", "also"),
    [
        (NotFound("no item"), NotFound, KeyError),
        (KeyError("no item"), NotFound, KeyError),
        (ValueError("bad"), InvalidValue, ValueError),
        (TypeError("unstorable"), InvalidValue, TypeError),
        (ZeroDivisionError("bug"), ServerError, TrackError),
    ],
)
def test_a_store_error_crosses_the_wire_onto_the_hierarchy(
    raised: Exception, family: type[TrackError], also: type[BaseException]
) -> None:
    """The family the server sends for a store's error becomes a class of the same branch."""
    from track.server.client import ERRORS, RPCCallFailure
    from track.server.server import error_kind

    remote = ERRORS.get(error_kind(raised), RPCCallFailure)
    assert issubclass(remote, family) and issubclass(remote, also)
    assert issubclass(remote, RPCCallFailure)


def test_a_real_server_relays_store_errors_as_track_errors(tmp_path: Path) -> None:
    """Through a real server, a write naming no trial is a NotFound and a bad query an
    InvalidValue; both are the server's errors (RPCCallFailure) too."""
    require("msgpack", "the server's wire format")
    from track.persistence.socketed import RPCCallFailure

    with running_server(tmp_path, f"file://{tmp_path / 'server.json'}", layer=None) as server:
        store = get_protocol(server.uri())
        try:
            with pytest.raises(NotFound, match="no trial") as missing:
                store.log_trial_batch(Trial(_hash="nope"), TrialBatch(metrics=[("x", 0, 1, 0.0)]))
            with pytest.raises(InvalidValue, match="nosuch") as bad:
                store.fetch_trials({"status": {"$nosuch": 1}})
        finally:
            store.close()
    assert isinstance(missing.value, RPCCallFailure) and isinstance(bad.value, RPCCallFailure)
