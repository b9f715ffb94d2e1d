"""Who may read the dashboard: the Host allow-list, logins, sessions and the login throttle.

The dashboard logs users in against the same users file as ``track serve`` (scrypt hashes,
verified by :mod:`track.server.auth`). A successful login opens a server-side session: the
browser holds a random token in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` under
TLS) and the dashboard keeps only the token's SHA-256, the user and the expiry time. Sessions
end at logout or ``lifetime`` seconds after the login, whichever comes first.

This module needs only the standard library, so ``track ui`` can check its arguments before
importing Starlette.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from track.errors import ConfigurationError

__all__ = [
    "DEFAULT_SESSION_LIFETIME",
    "LOOPBACK_NAMES",
    "WILDCARDS",
    "LoginThrottle",
    "Sessions",
    "allowed_hosts",
    "check_exposure",
    "is_loopback",
    "parse_duration",
]

#: how long a login lasts unless ``--session-lifetime`` says otherwise: 12 hours
DEFAULT_SESSION_LIFETIME = 12 * 3600.0
#: the names a browser on this machine uses to reach a loopback-bound dashboard
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
#: bind addresses meaning "every interface": never a useful Host name
WILDCARDS = ("", "0.0.0.0", "::", "[::]")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def is_loopback(host: str) -> bool:
    """True when ``host`` only reaches this machine: ``localhost``, 127.0.0.0/8 or ``::1``.

    Wildcards (``0.0.0.0``, ``::``) and every other name count as reachable from elsewhere.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_forms(host: str) -> list[str]:
    """``host`` as it may appear in a ``Host`` header (IPv6 addresses with and without brackets)."""
    bare = host.strip().strip("[]").lower()
    try:
        if ipaddress.ip_address(bare).version == 6:
            return [bare, f"[{bare}]"]
    except ValueError:
        pass
    return [bare]


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> list[str]:
    """The ``Host`` names the dashboard answers: loopback names, the bound host and ``extra``.

    Any other name is refused, so a page that rebinds its own DNS name to this machine's
    address (DNS rebinding) cannot read the store. ``extra`` may hold ``*.example.org``
    patterns, or ``*`` to accept every name.
    """
    hosts: list[str] = []
    candidates = [*LOOPBACK_NAMES, *([] if bind_host in WILDCARDS else [bind_host]), *extra]
    for host in candidates:
        for form in _host_forms(host):
            if form and form not in hosts:
                hosts.append(form)
    return hosts


def check_exposure(host: str, has_users: bool, no_auth: bool) -> None:
    """Refuse (``ConfigurationError``) to serve beyond loopback without users, unless ``no_auth``.

    ``no_auth`` together with users is refused too: the two contradict each other.
    """
    if no_auth and has_users:
        raise ConfigurationError(
            "--no-auth contradicts the users given (--users or TRACK_SERVER_USERS): drop one"
        )
    if not has_users and not no_auth and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve the store on {host} without a login: give --users FILE "
            "(create it with `track users add NAME --file FILE`), or --no-auth to let anyone "
            "who can reach the port read the whole store"
        )


def parse_duration(text: str) -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"30m"``, ``"12h"`` or ``"2d"`` (must be positive)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhd]?)\s*", text)
    if match is None:
        raise ConfigurationError(f"not a duration: {text!r} (expected e.g. 90s, 30m, 12h, 2d)")
    seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds <= 0:
        raise ConfigurationError(f"the duration {text!r} must be positive")
    return seconds


@dataclass
class _Session:
    user: str
    expires: float


class Sessions:
    """Logged-in browsers: token -> (user, expiry), keyed by the token's SHA-256.

    Holds at most ``limit`` sessions; past it, expired ones go first, then the oldest.
    """

    def __init__(self, lifetime: float = DEFAULT_SESSION_LIFETIME, limit: int = 10_000) -> None:
        self.lifetime, self.limit = lifetime, limit
        self._sessions: dict[bytes, _Session] = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "replace")).digest()

    def open(self, user: str) -> str:
        """A new session for ``user``; returns the token the browser keeps."""
        now = time.monotonic()
        if len(self._sessions) >= self.limit:
            for key in [k for k, s in self._sessions.items() if s.expires <= now]:
                del self._sessions[key]
            while len(self._sessions) >= self.limit:
                del self._sessions[next(iter(self._sessions))]
        token = secrets.token_urlsafe(32)
        self._sessions[self._key(token)] = _Session(user, now + self.lifetime)
        return token

    def user(self, token: str | None) -> tuple[str | None, bool]:
        """``(user, expired)``: the session's user, or ``None`` and whether it had expired."""
        if not token:
            return None, False
        key = self._key(token)
        session = self._sessions.get(key)
        if session is None:
            return None, False
        if session.expires <= time.monotonic():
            del self._sessions[key]
            return None, True
        return session.user, False

    def close(self, token: str | None) -> None:
        """End the session of ``token`` (logout); unknown tokens are ignored."""
        if token:
            self._sessions.pop(self._key(token), None)


class LoginThrottle:
    """Slows password guessing from one address, refusing before any scrypt runs.

    After ``n`` failures in a row an address must wait ``base * 2**(n-1)`` seconds (at most
    ``cap``) before its next attempt is even looked at, and it may have only one login in
    progress at a time, so parallel connections do not multiply its guesses. A success or
    ``forget_after`` seconds without failures clears the count. At most ``limit`` addresses
    are remembered (the oldest is forgotten first).
    """

    def __init__(
        self,
        base: float = 0.25,
        cap: float = 5.0,
        forget_after: float = 600.0,
        limit: int = 10_000,
    ) -> None:
        self.base, self.cap, self.forget_after, self.limit = base, cap, forget_after, limit
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (count, last failure)
        self._busy: set[str] = set()

    def wait(self, address: str) -> float:
        """Seconds ``address`` must still wait before trying; 0 when it may try now."""
        if address in self._busy:
            return self.base
        count, last = self._failures.get(address, (0, 0.0))
        now = time.monotonic()
        if not count or now - last > self.forget_after:
            return 0.0
        # 2.0**1024 overflows a float; no cap is 2**1000 times the base
        penalty = min(self.base * 2.0 ** min(count - 1, 1000), self.cap)
        return max(0.0, last + penalty - now)

    def begin(self, address: str) -> None:
        """Mark a login from ``address`` as in progress (call only after ``wait`` gave 0)."""
        self._busy.add(address)

    def end(self, address: str, ok: bool) -> None:
        """Record the outcome of the login ``begin`` started."""
        self._busy.discard(address)
        if ok:
            self._failures.pop(address, None)
            return
        count, last = self._failures.pop(address, (0, 0.0))
        if time.monotonic() - last > self.forget_after:
            count = 0
        self._failures[address] = (count + 1, time.monotonic())
        if len(self._failures) > self.limit:
            del self._failures[next(iter(self._failures))]
