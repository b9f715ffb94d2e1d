"""Store URIs, parsed once: ``scheme://user:password@address:port/path?key=value``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["URI", "parse_options", "parse_uri"]


@dataclass(frozen=True)
class URI:
    """A parsed store URI. Stores receive this, never the raw string.

    ``location`` is what follows the scheme for file-like stores: ``file://run.json``,
    ``file:run.json`` and ``file:///abs/run.json`` give ``run.json``, ``run.json`` and
    ``/abs/run.json``.
    """

    scheme: str
    username: str | None = None
    password: str | None = None
    address: str | None = None
    port: int | None = None
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)
    raw: str = ""
    location: str = ""

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __str__(self) -> str:
        return self.raw

    def redacted(self) -> str:
        """The URI with its password hidden, for logs and error messages."""
        if self.password is None:
            return self.raw
        return self.raw.replace(f":{self.password}@", ":***@", 1)


def parse_options(options: str) -> dict[str, str]:
    """``a=1&b=x`` as ``{"a": "1", "b": "x"}``."""
    return dict(parse_qsl(options, keep_blank_values=True))


def parse_uri(uri: str | URI) -> URI:
    """Split a store URI into scheme, credentials, address, port, path and query."""
    if isinstance(uri, URI):
        return uri
    if not isinstance(uri, str) or ":" not in uri:
        raise ValueError(f"not a store URI: {uri!r} (expected scheme://...)")
    parts = urlsplit(uri)
    if not parts.scheme:
        raise ValueError(f"store URI {uri!r} has no scheme")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"store URI {uri!r} has an invalid port") from None
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return URI(
        scheme=parts.scheme.lower(),
        username=username,
        password=password,
        address=parts.hostname if parts.netloc else None,
        port=port,
        path=unquote(parts.path),
        query=parse_options(parts.query),
        raw=uri,
        location=unquote(parts.netloc.rsplit("@", 1)[-1] + parts.path),
    )
