"""Known servers: the AES key fingerprint each server had when first seen (like ssh's known_hosts).

A client without a pinned ``server_key`` trusts the key a server shows the first time and
records ``host:port fingerprint`` in the known-servers file; every later connection, from any
process of the user, must see the same key, or it is refused before the password is sent.

The file is ``$TRACK_KNOWN_SERVERS``, else ``$XDG_CONFIG_HOME/track/known_servers``, else
``~/.config/track/known_servers`` (the ``known_servers=`` URI option overrides all three). One
line per server, ``#`` starts a comment. It is rewritten whole (a temporary file created with
``O_EXCL`` and mode 0600, then renamed over it) under an exclusive ``fcntl`` lock on
``<file>.lock``, so many jobs starting at once record a server once and agree on its key.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

from track.server.crypto import HandshakeError

__all__ = ["KnownServers", "ServerKeyChanged", "known_servers_path", "server_name"]


class ServerKeyChanged(HandshakeError):
    """The server shows a key other than the one the known-servers file records for it."""


def known_servers_path(option: str | None = None) -> str:
    """The known-servers file: ``option``, ``TRACK_KNOWN_SERVERS``, then the user's config dir."""
    path = option or os.environ.get("TRACK_KNOWN_SERVERS")
    if not path:
        config = os.environ.get("XDG_CONFIG_HOME") or os.path.join("~", ".config")
        path = os.path.join(config, "track", "known_servers")
    return os.path.abspath(os.path.expanduser(path))


def server_name(host: str, port: int) -> str:
    """How a server is named in the file: ``host:port``, ``[v6 address]:port``."""
    host = host.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): the O_EXCL file and the rename still hold
        yield
        return
    descriptor = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


#: The first line of a new known-servers file.
HEADER = "# track known servers: host:port and the SHA-256 fingerprint of its AES key\n"


def _parse(text: str) -> dict[str, str]:
    known: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 2:
            known.setdefault(fields[0], fields[1].lower())
    return known


class KnownServers:
    """The known-servers file at ``path`` (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _read(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as file:
                return file.read()
        except (FileNotFoundError, NotADirectoryError):  # no file (yet): nothing recorded
            return ""

    def lookup(self, name: str) -> str | None:
        """The fingerprint recorded for ``name`` (``host:port``), or None."""
        return _parse(self._read()).get(name)

    def record(self, name: str, fingerprint: str) -> str:
        """Record ``name``'s fingerprint unless it has one; the fingerprint the file now holds.

        When another process recorded the server in the meantime, its fingerprint is kept
        and returned, so the caller compares against it.
        """
        folder = os.path.dirname(self.path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        with _locked(self.path):
            text = self._read() or HEADER
            held = _parse(text).get(name)
            if held is not None:
                return held
            if not text.endswith("\n"):
                text += "\n"
            text += f"{name} {fingerprint}\n"
            temporary = f"{self.path}.{uuid.uuid4().hex}.tmp"
            descriptor = os.open(
                temporary,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                0o600,
            )
            try:
                with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                    file.write(text)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        return fingerprint

    def changed_message(self, name: str, seen: str, held: str) -> str:
        """The refusal naming the file and how to accept a key that was changed on purpose."""
        return (
            f"track server {name} shows AES key fingerprint {seen}, but {self.path} records "
            f"{held} for it: refusing to connect (the password was not sent; a different server, "
            f"or a man in the middle). If the server's key was changed on purpose, delete the line "
            f"starting with {name!r} from {self.path}, or pin the new key with "
            f"?server_key={seen}"
        )
