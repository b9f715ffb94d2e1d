"""Server users: scrypt password hashes in a TOML file or the environment, and failure throttling.

The users file is TOML with one table::

    [users]
    alice = "scrypt$131072$8$1$<salt hex>$<hash hex>"

``track users add alice --file users.toml`` writes such a line. The environment variable
``TRACK_SERVER_USERS`` may instead hold ``name=hash`` pairs separated by ``;``. Only salted
scrypt hashes are stored, never passwords. A hash records its own cost parameters, so hashes
written with an older, cheaper cost (N=2^14) still verify.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import sys
import time
from typing import Any

from track.errors import ConfigurationError

__all__ = [
    "FailureThrottle",
    "check_credentials",
    "hash_password",
    "load_users",
    "parse_users",
    "save_user",
    "verify_password",
]

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: scrypt cost of new hashes: N=2^17, r=8 needs 128 * r * N = 128 MiB and ~0.5 s of one core.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
#: the memory scrypt may use (OpenSSL's default, 32 MiB, is below what N=2^17, r=8 needs)
SCRYPT_MAXMEM = 256 * 1024 * 1024
USERS_ENV = "TRACK_SERVER_USERS"


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the users-file format."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=32,
        maxmem=SCRYPT_MAXMEM,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _dummy_hash() -> str:
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${'00' * 16}${'00' * 32}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored scrypt hash (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
            maxmem=SCRYPT_MAXMEM,
        )
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def check_credentials(users: dict[str, str], username: Any, password: Any) -> bool:
    """True when the user exists and the password matches; unknown users cost the same time.

    A user name or password that is not a string (a malformed login) never matches.
    """
    if not isinstance(username, (str, type(None))) or not isinstance(password, (str, type(None))):
        return False
    stored = users.get(username or "")
    ok = verify_password(password or "", stored or _dummy_hash())
    return ok and stored is not None and password is not None


def _parse_toml(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    # Python 3.10 has no tomllib: parse the subset this module writes.
    table: dict[str, Any] = {}
    section: dict[str, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = table.setdefault(line[1:-1].strip(), {})
            continue
        match = re.match(r'^([A-Za-z0-9_.-]+)\s*=\s*"([^"\\]*)"$', line)
        if match is None or section is None:
            raise ValueError(f'line {number}: expected [users] then name = "hash"')
        section[match[1]] = match[2]
    return table


def parse_users(text: str, source: str) -> dict[str, str]:
    """Users (name -> hash) from users-file text; ``source`` names it in errors.

    A file without a ``[users]`` table is refused: read as "no users", it would turn
    authentication off for a server started with ``--users``.
    """
    try:
        document = _parse_toml(text)
    except ValueError as error:
        raise ConfigurationError(f"{source}: not a users file ({error})") from None
    if "users" not in document:
        raise ConfigurationError(
            f"{source}: no [users] table (a users file holds [users] then "
            'name = "scrypt$..." lines; create it with `track users add NAME --file FILE`)'
        )
    users = document["users"]
    if not isinstance(users, dict):
        raise ConfigurationError(f'{source}: [users] must be a table of name = "hash"')
    return _checked(users, source)


def _checked(users: dict[str, Any], source: str) -> dict[str, str]:
    for name, stored in users.items():
        if not isinstance(stored, str) or not stored.startswith("scrypt$"):
            raise ConfigurationError(
                f"{source}: user {name!r} has no scrypt hash (use `track users add`)"
            )
    return dict(users)


def load_users(path: str | None) -> dict[str, str]:
    """Users from ``path`` when given, else from ``TRACK_SERVER_USERS``, else none.

    A users file that names no user is refused, so that ``--users`` never means "no login".
    """
    if path:
        with open(path, encoding="utf-8") as file:
            users = parse_users(file.read(), path)
        if not users:
            raise ConfigurationError(
                f"{path}: the [users] table is empty (add one with `track users add`)"
            )
        return users
    users = {}
    for pair in filter(None, os.environ.get(USERS_ENV, "").split(";")):
        name, _, stored = pair.partition("=")
        users[name.strip()] = stored.strip()
    return _checked(users, USERS_ENV)


def save_user(path: str, name: str, password: str) -> None:
    """Add or replace ``name`` in the users file at ``path`` (created with mode 0600)."""
    if not NAME.match(name):
        raise ConfigurationError(
            f"user name {name!r} may only hold letters, digits, '_', '.' and '-'"
        )
    users = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            text = file.read()
        users = parse_users(text, path) if text.strip() else {}
    users[name] = hash_password(password)
    lines = ["[users]", *(f'{user} = "{stored}"' for user, stored in sorted(users.items()))]
    temporary = path + ".tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(temporary, flags, 0o600)
    except FileExistsError:
        raise FileExistsError(
            f"{temporary} already exists (another `track users add` at work, or one that "
            "crashed, or a planted link): check it, remove it and retry"
        ) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class FailureThrottle:
    """Per-address penalty after failed logins, enforced before any password is checked.

    After the n-th failed login in a row from an address, that address is refused without
    running scrypt for ``base * 2**(n-1)`` seconds (0.25 s, 0.5 s, 1 s ... at most ``cap``).
    A success does not erase the count (an attacker holding one account could otherwise reset
    it between guesses); ``forget_after`` seconds without a failure do. The table is bounded:
    past ``max_addresses`` the oldest address is forgotten.
    """

    def __init__(
        self,
        base: float = 0.25,
        cap: float = 5.0,
        forget_after: float = 600.0,
        max_addresses: int = 10_000,
    ) -> None:
        self.base, self.cap, self.forget_after = base, cap, forget_after
        self.max_addresses = max_addresses
        #: address -> (failures in a row, time of the last failure, end of its penalty)
        self._failures: dict[str, tuple[int, float, float]] = {}

    def penalty(self, address: str) -> float:
        """Seconds ``address`` must still wait before a login is checked (0: none)."""
        entry = self._failures.get(address)
        return max(0.0, entry[2] - time.monotonic()) if entry else 0.0

    def failed(self, address: str) -> float:
        """Count a failure of ``address``; the penalty it now has, in seconds."""
        now = time.monotonic()
        count, last, _ = self._failures.pop(address, (0, 0.0, 0.0))
        if now - last > self.forget_after:
            count = 0
        # 2.0**1024 overflows a float; no cap is 2**1000 times the base
        wait = min(self.base * 2.0 ** min(count, 1000), self.cap)
        self._failures[address] = (count + 1, now, now + wait)
        if len(self._failures) > self.max_addresses:
            self._failures.pop(next(iter(self._failures)))
        return wait
