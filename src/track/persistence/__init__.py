"""Stores, chosen by URI scheme through one registry.

Each store lives in its own module and is imported only when its scheme is first used, so
``import track`` never imports a database driver. Register your own with
``register('byob', MyOwnBackend)``; ``get_protocol('byob://...')`` then builds
``MyOwnBackend(uri)`` with the parsed :class:`~track.persistence.utils.URI`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from track.persistence.protocol import Protocol
from track.persistence.utils import URI, parse_uri

__all__ = [
    "Protocol",
    "UnknownScheme",
    "get_protocol",
    "make_cockroach_protocol",
    "make_comet_ml",
    "make_ephemeral_protocol",
    "make_local",
    "make_pickled_protocol",
    "make_socket_protocol",
    "register",
    "registered_schemes",
]

Factory = Callable[..., Protocol]

#: scheme -> a factory, or "module:attribute" naming one, imported on first use.
_registry: dict[str, Factory | str] = {
    "ephemeral": "track.persistence.memory:EphemeralProtocol",
    "file": "track.persistence.local:FileProtocol",
    "pickled": "track.persistence.pickled:PickledProtocol",
    "sqlite": "track.persistence.sql:SQLProtocol",
    "postgresql": "track.persistence.sql:SQLProtocol",
    "postgres": "track.persistence.sql:SQLProtocol",
    "cockroach": "track.persistence.sql:SQLProtocol",
    "socket": "track.persistence.socketed:SocketClient",
    "comet": "track.persistence.cometml:CometProtocol",
}


class UnknownScheme(ValueError):
    """A store URI whose scheme no store registered."""


def register(name: str, proto: Factory | str) -> None:
    """Make ``name://...`` URIs build stores with ``proto`` (a class, factory or "module:attr")."""
    _registry[name.lower()] = proto


def registered_schemes() -> list[str]:
    """Every scheme a URI may use, sorted."""
    return sorted(_registry)


def _factory(scheme: str) -> Factory:
    entry = _registry.get(scheme)
    if entry is None:
        raise UnknownScheme(
            f"unknown store scheme {scheme!r}; known schemes: {', '.join(registered_schemes())}"
        )
    if isinstance(entry, str):
        module_name, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module_name), attribute)
        _registry[scheme] = entry
    return entry


def get_protocol(backend_name: str | URI, **options: Any) -> Protocol:
    """Build the store a URI names (``file://run.json``, ``sqlite:///track.db``, ...)."""
    uri = parse_uri(backend_name)
    return _factory(uri.scheme)(uri, **options)


def make_local(uri: str | URI, strict: bool = True, eager: bool = True) -> Protocol:
    """A ``file://`` store (seed API)."""
    return _factory("file")(parse_uri(uri), strict=strict, eager=eager)


def make_ephemeral_protocol(uri: str | URI = "ephemeral:") -> Protocol:
    """An in-memory store (seed API)."""
    return _factory("ephemeral")(parse_uri(uri))


def make_pickled_protocol(uri: str | URI) -> Protocol:
    """A ``pickled://`` store (seed API); never load a pickle from an untrusted source."""
    return _factory("pickled")(parse_uri(uri))


def make_socket_protocol(uri: str | URI) -> Protocol:
    """A ``socket://`` client of a track server (seed API; needs the ``[server]`` extra)."""
    return _factory("socket")(parse_uri(uri))


def make_cockroach_protocol(uri: str | URI) -> Protocol:
    """A ``cockroach://`` store (seed API; needs the ``[postgres]`` extra)."""
    return _factory("cockroach")(parse_uri(uri))


def make_comet_ml(uri: str | URI) -> Protocol:
    """A ``comet://workspace/project`` store forwarding to Comet.ml (seed API; needs comet_ml)."""
    return _factory("comet")(parse_uri(uri))


#: the seeds' MongoDB factory, kept in :mod:`track.compat.stores`
_COMPAT = {"make_mongodb_protocol": "stores"}


def __getattr__(name: str) -> Any:
    """The seeds' ``make_mongodb_protocol`` (:mod:`track.compat.stores`), on first use."""
    if name not in _COMPAT:  # checked here, so that a probe (``__path__``) imports nothing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from track.compat import compat_attribute

    return compat_attribute(__name__, name, _COMPAT)
