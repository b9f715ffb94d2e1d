"""Store URIs, parsed once: ``scheme://user:password@address:port/path?key=value``.

Also the one redaction function, :func:`redact`, that every URI (or text that may hold one)
goes through before it is printed, logged, served or stored: passwords in ``user:password@``
(percent-encoded or not) and secret-looking query options (``password=``, ``token=``,
``api_key=``, ...) become ``***``. :func:`redact_argv` does the same for a command line,
including ``--password X`` pairs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from track.errors import ConfigurationError

__all__ = ["URI", "is_secret_name", "parse_options", "parse_uri", "redact", "redact_argv"]

#: What a hidden secret is replaced with.
HIDDEN = "***"

#: Option names that hold a secret: ending in one of these words (``sslpassword``,
#: ``access_token``, ``client_secret``, ``api_key``, ``AWS_SECRET_ACCESS_KEY``, ``db.pass``).
_SECRET_NAME = re.compile(
    r"(password|passwd|passphrase|pwd|token|secret|apikey|credentials?"
    r"|(^|[_.-])(key|pass|auth|sig|signature))$",
    re.IGNORECASE,
)

#: Names that look secret but are public (the server key's fingerprint is meant to be shared).
_PUBLIC_NAMES = frozenset({"server_key"})

#: ``scheme://user:password@``: the password runs to the last ``@`` before a ``/`` or a space.
#: It may hold ``?`` or ``#`` (not percent-encoded, so not parsed as a password): hiding a
#: little too much in such a URI beats printing part of a password.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*):(?P<password>[^\s/]*)@")

#: ``name=value`` in a query string or free text; the name is checked by :func:`is_secret_name`.
_OPTION = re.compile(r"(?<![A-Za-z0-9_.%-])(?P<name>[A-Za-z0-9_.%-]+)=(?P<value>[^&\s;#,]*)")


def is_secret_name(name: str) -> bool:
    """True for an option name whose value is a secret (``password``, ``api-key``, ``token``...)."""
    name = unquote(name).lstrip("-")
    return name.lower() not in _PUBLIC_NAMES and bool(_SECRET_NAME.search(name))


def _hide_option(match: re.Match[str]) -> str:
    if not match["value"] or not is_secret_name(match["name"]):
        return match[0]
    return f"{match['name']}={HIDDEN}"


def redact(text: str) -> str:
    """``text`` with every URI password and secret-looking ``name=value`` replaced by ``***``.

    Works on a bare URI or on free text holding URIs (``--store=postgresql://u:pw@h/db``,
    an error message), percent-encoded or not. Use it for every URI that is printed,
    logged, served or stored.
    """
    text = _USERINFO.sub(lambda m: f"{m['head']}:{HIDDEN}@", text)
    return _OPTION.sub(_hide_option, text)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with its secrets hidden: URIs, ``--token=X``, ``--password X``, ``key=X``.

    The item after a secret-named flag (``--password``, ``--api-key``) is hidden unless it is
    itself a long option (starts with ``--``).
    """
    hidden: list[str] = []
    hide_next = False
    for item in argv:
        if hide_next and not item.startswith("--"):
            hidden.append(HIDDEN)
            hide_next = False
            continue
        hide_next = False
        name, equals, _ = item.partition("=")
        if item.startswith("-") and is_secret_name(name):
            hidden.append(f"{name}={HIDDEN}" if equals else item)
            hide_next = not equals
            continue
        hidden.append(redact(item))
    return hidden


@dataclass(frozen=True)
class URI:
    """A parsed store URI. Stores receive this, never the raw string.

    ``location`` is what follows the scheme for file-like stores: ``file://run.json``,
    ``file:run.json`` and ``file:///abs/run.json`` give ``run.json``, ``run.json`` and
    ``/abs/run.json``. ``password`` is the URI's, else the content of its ``password_file=``
    option. ``repr()`` never shows the password; ``redacted()`` is the form to print.
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

    def __repr__(self) -> str:
        return f"URI({self.redacted()!r})"

    def redacted(self) -> str:
        """The URI with its secrets hidden (see :func:`redact`), for logs and messages."""
        return redact(self.raw)


def parse_options(options: str) -> dict[str, str]:
    """``a=1&b=x`` as ``{"a": "1", "b": "x"}``."""
    return dict(parse_qsl(options, keep_blank_values=True))


def _unparsable(uri: str) -> str:
    """A URI that does not parse, for an error message: everything before an ``@`` hidden."""
    return redact(re.sub(r"://\S*@", f"://{HIDDEN}@", uri))


def _password_file(path: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as file:
            return file.read().rstrip("\r\n")
    except OSError as error:
        raise ConfigurationError(
            f"password_file={path}: cannot read it ({error.strerror or error})"
        ) from None


def parse_uri(uri: str | URI) -> URI:
    """Split a store URI into scheme, credentials, address, port, path and query.

    A ``password_file=PATH`` option supplies the password (the file's content without its
    trailing newline), so that it need not appear on a command line.
    """
    if isinstance(uri, URI):
        return uri
    if not isinstance(uri, str) or ":" not in uri:
        shown = _unparsable(uri) if isinstance(uri, str) else repr(uri)
        raise ConfigurationError(f"not a store URI: {shown!r} (expected scheme://...)")
    parts = urlsplit(uri)
    if not parts.scheme:
        raise ConfigurationError(f"store URI {_unparsable(uri)!r} has no scheme")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(
            f"store URI {_unparsable(uri)!r} has an invalid port (percent-encode / ? # @ "
            "in a password)"
        ) from None
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    query = parse_options(parts.query)
    if "password_file" in query:
        if password is not None:
            raise ConfigurationError(
                f"store URI {redact(uri)!r} gives a password and a password_file: keep one"
            )
        password = _password_file(query["password_file"])
    return URI(
        scheme=parts.scheme.lower(),
        username=username,
        password=password,
        address=parts.hostname if parts.netloc else None,
        port=port,
        path=unquote(parts.path),
        query=query,
        raw=uri,
        location=unquote(parts.netloc.rsplit("@", 1)[-1] + parts.path),
    )
