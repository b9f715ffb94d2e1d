"""Stores, chosen by URI scheme through one registry.

Each store lives in its own module and is imported only when its scheme is first used, so
``import track`` never imports a database driver. Register your own with
``register('byob', MyOwnBackend)``, or from an installed package through an entry point of the
``track.stores`` group (see docs/user-guide.md); ``get_protocol('byob://...')`` then builds
``MyOwnBackend(uri)`` with the parsed :class:`~track.persistence.utils.URI`. The seeds'
``make_*`` factories are kept in :mod:`track.compat.stores` and resolved here on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from track.errors import UnknownName
from track.persistence.protocol import Protocol
from track.persistence.utils import URI, parse_uri
from track.registry import Registry, lazy_aliases

#: the seeds' store factories, kept in :mod:`track.compat.stores` and resolved on first use
SEED_FACTORIES = (
    "make_cockroach_protocol",
    "make_comet_ml",
    "make_ephemeral_protocol",
    "make_local",
    "make_mongodb_protocol",
    "make_pickled_protocol",
    "make_socket_protocol",
)

__all__ = [
    "STORES",
    "Protocol",
    "UnknownScheme",
    "get_protocol",
    "register",
    "registered_schemes",
    *SEED_FACTORIES,
]

Factory = Callable[..., Protocol]


class UnknownScheme(UnknownName):
    """A store URI whose scheme no store registered (a ValueError, as it always was)."""


#: scheme -> store factory; installed packages add schemes through the ``track.stores`` group.
STORES: Registry[Factory] = Registry(
    "store scheme",
    group="track.stores",
    builtins={
        "ephemeral": "track.persistence.memory:EphemeralProtocol",
        "file": "track.persistence.local:FileProtocol",
        "pickled": "track.persistence.pickled:PickledProtocol",
        "sqlite": "track.persistence.sql:SQLProtocol",
        "postgresql": "track.persistence.sql:SQLProtocol",
        "postgres": "track.persistence.sql:SQLProtocol",
        "cockroach": "track.persistence.sql:SQLProtocol",
        "socket": "track.server.client:SocketClient",
        "comet": "track.forward.comet:CometProtocol",
    },
    unknown=UnknownScheme,
)


def register(name: str, proto: Factory | str) -> None:
    """Make ``name://...`` URIs build stores with ``proto`` (a class, factory or "module:attr")."""
    STORES.register(name, proto)


def registered_schemes() -> list[str]:
    """Every scheme a URI may use (installed plugins' included), sorted."""
    return STORES.names()


def get_protocol(backend_name: str | URI, **options: Any) -> Protocol:
    """Build the store a URI names (``file://run.json``, ``sqlite:///track.db``, ...)."""
    uri = parse_uri(backend_name)
    return STORES.get(uri.scheme)(uri, **options)


#: the seeds' store factories, kept in :mod:`track.compat.stores`
__getattr__ = lazy_aliases(__name__, dict.fromkeys(SEED_FACTORIES, "track.compat.stores"))
