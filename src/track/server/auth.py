"""Server users: scrypt password hashes in a TOML file or the environment, and failure throttling.

The users file is TOML with one table::

    [users]
    alice = "scrypt$16384$8$1$<salt hex>$<hash hex>"

``track users add alice --file users.toml`` writes such a line. The environment variable
``TRACK_SERVER_USERS`` may instead hold ``name=hash`` pairs separated by ``;``. Only salted
scrypt hashes are stored, never passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time

__all__ = [
    "FailureThrottle",
    "hash_password",
    "load_users",
    "parse_users",
    "save_user",
    "verify_password",
]

NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
USERS_ENV = "TRACK_SERVER_USERS"


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the users-file format."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
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
            maxmem=256 * 1024 * 1024,
        )
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def check_credentials(users: dict[str, str], username: str | None, password: str | None) -> bool:
    """True when the user exists and the password matches; unknown users cost the same time."""
    stored = users.get(username or "")
    ok = verify_password(password or "", stored or _dummy_hash())
    return ok and stored is not None and password is not None


def _parse_toml(text: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the subset this module writes
        table: dict[str, dict[str, str]] = {}
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
                raise ValueError(f'line {number}: expected [users] then name = "hash"') from None
            section[match[1]] = match[2]
        return table
    return tomllib.loads(text)


def parse_users(text: str, source: str) -> dict[str, str]:
    """Users (name -> hash) from users-file text; ``source`` names it in errors."""
    try:
        users = _parse_toml(text).get("users", {})
    except ValueError as error:
        raise ValueError(f"{source}: not a users file ({error})") from None
    if not isinstance(users, dict):
        raise ValueError(f'{source}: [users] must be a table of name = "hash"')
    return _checked(users, source)


def _checked(users: dict, source: str) -> dict[str, str]:
    for name, stored in users.items():
        if not isinstance(stored, str) or not stored.startswith("scrypt$"):
            raise ValueError(f"{source}: user {name!r} has no scrypt hash (use `track users add`)")
    return dict(users)


def load_users(path: str | None) -> dict[str, str]:
    """Users from ``path`` when given, else from ``TRACK_SERVER_USERS``, else none."""
    if path:
        with open(path, encoding="utf-8") as file:
            return parse_users(file.read(), path)
    users = {}
    for pair in filter(None, os.environ.get(USERS_ENV, "").split(";")):
        name, _, stored = pair.partition("=")
        users[name.strip()] = stored.strip()
    return _checked(users, USERS_ENV)


def save_user(path: str, name: str, password: str) -> None:
    """Add or replace ``name`` in the users file at ``path`` (created with mode 0600)."""
    if not NAME.match(name):
        raise ValueError(f"user name {name!r} may only hold letters, digits, '_', '.' and '-'")
    users = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            users = parse_users(file.read(), path)
    users[name] = hash_password(password)
    lines = ["[users]", *(f'{user} = "{stored}"' for user, stored in sorted(users.items()))]
    descriptor = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


class FailureThrottle:
    """Slows down repeated failed logins from one address: 0.25 s, doubling, up to 5 s."""

    def __init__(self, base: float = 0.25, cap: float = 5.0, forget_after: float = 600.0) -> None:
        self.base, self.cap, self.forget_after = base, cap, forget_after
        self._failures: dict[str, tuple[int, float]] = {}

    def delay(self, address: str) -> float:
        """How long to wait before answering a failed login from ``address``."""
        count, last = self._failures.get(address, (0, 0.0))
        if time.monotonic() - last > self.forget_after:
            count = 0
        return min(self.base * 2**count, self.cap) if count else self.base

    def failed(self, address: str) -> None:
        """Count a failure (the table is bounded: the oldest address is forgotten)."""
        count, _ = self._failures.pop(address, (0, 0.0))
        self._failures[address] = (count + 1, time.monotonic())
        if len(self._failures) > 10_000:
            self._failures.pop(next(iter(self._failures)))

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address``."""
        self._failures.pop(address, None)
