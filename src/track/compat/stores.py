"""The seeds' store factories: ``make_local``, ``make_pickled_protocol``, ... (``track.persistence``).

Each builds the store of its scheme through :func:`track.persistence.get_protocol`'s registry;
track's own code uses ``get_protocol`` (a URI) instead. No MongoDB server can run where track is
built and tested, so track ships no MongoDB store rather than an untested one:
``make_mongodb_protocol`` builds the ``mongodb://`` store a program registered
(``register("mongodb", MyMongoStore)``), else fails with a message naming the stores track has.
"""

from __future__ import annotations

from track.persistence import STORES, UnknownScheme, get_protocol, registered_schemes
from track.persistence.protocol import Protocol
from track.persistence.utils import URI, parse_uri

__all__ = [
    "make_cockroach_protocol",
    "make_comet_ml",
    "make_ephemeral_protocol",
    "make_local",
    "make_mongodb_protocol",
    "make_pickled_protocol",
    "make_socket_protocol",
]


def make_local(uri: str | URI, strict: bool = True, eager: bool = True) -> Protocol:
    """A ``file://`` store (seed API)."""
    return STORES.get("file")(parse_uri(uri), strict=strict, eager=eager)


def make_ephemeral_protocol(uri: str | URI = "ephemeral:") -> Protocol:
    """An in-memory store (seed API)."""
    return STORES.get("ephemeral")(parse_uri(uri))


def make_pickled_protocol(uri: str | URI) -> Protocol:
    """A ``pickled://`` store (seed API); never load a pickle from an untrusted source."""
    return STORES.get("pickled")(parse_uri(uri))


def make_socket_protocol(uri: str | URI) -> Protocol:
    """A ``socket://`` client of a track server (seed API; needs the ``[server]`` extra)."""
    return STORES.get("socket")(parse_uri(uri))


def make_cockroach_protocol(uri: str | URI) -> Protocol:
    """A ``cockroach://`` store (seed API; needs the ``[postgres]`` extra)."""
    return STORES.get("cockroach")(parse_uri(uri))


def make_comet_ml(uri: str | URI) -> Protocol:
    """A ``comet://workspace/project`` store forwarding to Comet.ml (seed API; needs comet_ml)."""
    return STORES.get("comet")(parse_uri(uri))


def make_mongodb_protocol(uri: str | URI) -> Protocol:
    """A ``mongodb://`` store: the one a program registered, else :class:`UnknownScheme`."""
    parsed = parse_uri(uri)
    if parsed.scheme != "mongodb":
        raise ValueError(f"make_mongodb_protocol takes a mongodb:// URI, not {parsed.redacted()!r}")
    if "mongodb" not in registered_schemes():
        raise UnknownScheme(
            "track has no MongoDB store (mongodb:// is not supported; see "
            "docs/compatibility.md); its stores are: " + ", ".join(registered_schemes())
        )
    return get_protocol(parsed)
