"""The seeds' store factories that track has no store for: ``make_mongodb_protocol``.

No MongoDB server can run where track is built and tested, so track ships no MongoDB store
rather than an untested one. ``mongodb://`` URIs fail with a message naming the stores track
has, unless a program registered its own (``register("mongodb", MyMongoStore)``), which
``make_mongodb_protocol`` then builds.
"""

from __future__ import annotations

from track.persistence import UnknownScheme, get_protocol, registered_schemes
from track.persistence.protocol import Protocol
from track.persistence.utils import URI, parse_uri

__all__ = ["make_mongodb_protocol"]


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
