"""Start real track server subprocesses for tests (``track serve``, on 127.0.0.1 by default)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from track.server.auth import hash_password

USER, PASSWORD = "user", "pass"
_hashes: dict[str, str] = {}


def users_file(folder: Path, users: dict[str, str]) -> Path:
    """A users file for ``users`` (name -> password), hashing each password once per session."""
    lines = ["[users]"]
    for name, password in users.items():
        if password not in _hashes:
            _hashes[password] = hash_password(password)
        lines.append(f'{name} = "{_hashes[password]}"')
    path = folder / "users.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll ``predicate`` until it returns a true value or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ServerProcess:
    """A ``track serve`` subprocess, its port and its log file.

    ``host`` is the address it listens on and clients connect to; ``prefix`` goes before the
    command (e.g. ``ip netns exec NAME`` to run it inside a network namespace).
    """

    def __init__(
        self,
        folder: Path,
        store: str,
        layer: str | None = "AES",
        users: dict[str, str] | None = None,
        port: int = 0,
        extra: tuple[str, ...] = (),
        host: str = "127.0.0.1",
        prefix: tuple[str, ...] = (),
    ) -> None:
        self.folder, self.store, self.layer = folder, store, layer
        self.host, self.prefix = host, prefix
        self.users = {USER: PASSWORD} if users is None else users
        self.extra = extra
        self.port = port
        self.key_file = folder / "server-key.pem"
        self.log_path = folder / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        """Start the server (on the same port when restarting) and wait until it listens."""
        command = [
            *self.prefix, sys.executable, "-m", "track.cli", "serve", "--store", self.store,
            "--host", self.host, "--port", str(self.port),
            "--security-layer", self.layer or "none", "--key-file", str(self.key_file),
            *self.extra,
        ]  # fmt: skip
        if self.users:
            command += ["--users", str(users_file(self.folder, self.users))]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACK_")}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

        def listening() -> int | None:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            found = re.search(rf"listening on {re.escape(self.host)}:(\d+)", self.log()[offset:])
            return int(found[1]) if found else None

        self.port = wait_for(listening, 30, "the server to listen")
        return self

    def log(self) -> str:
        """Everything the server logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def uri(self, user: str | None = USER, password: str | None = PASSWORD, **query: str) -> str:
        """A ``socket://`` URI for this server."""
        credentials = f"{user}:{password}@" if user is not None and password is not None else ""
        credentials = f"{user}@" if user is not None and password is None else credentials
        options = {"security_layer": self.layer or "none", **query}
        if self.layer == "AES" and "TRACK_KNOWN_SERVERS" not in os.environ:
            # outside pytest (benchmarks): keys of throw-away servers stay out of ~/.config
            options.setdefault("known_servers", str(self.folder / "known_servers"))
        text = "&".join(f"{k}={v}" for k, v in options.items())
        return f"socket://{credentials}{self.host}:{self.port}?{text}"

    def kill(self) -> None:
        """``kill -9`` the server."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM the server and return its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def make_tls(folder: Path, address: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``address`` and its key (the client pins the certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "track test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@contextmanager
def running_server(folder: Path, store: str, **kwargs) -> Iterator[ServerProcess]:
    """A started server, killed afterwards whatever happens."""
    server = ServerProcess(folder, store, **kwargs).start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.kill()
            server.process.wait(10)
