"""Fixtures shared by the whole suite.

``store_uri`` parametrizes a test over every store kind, so that one behavioural suite runs
against all of them. Each entry of ``STORE_KINDS`` maps a test id to a function building a
fresh, empty store URI inside the test's temporary folder (and, for databases, a fresh
database that is dropped afterwards). Store modules add their kinds here.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from optional import require, unavailable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


@contextmanager
def _ephemeral(tmp_path: Path) -> Iterator[str]:
    yield "ephemeral:"


@contextmanager
def _file(tmp_path: Path) -> Iterator[str]:
    yield f"file://{tmp_path / 'store.json'}"


@contextmanager
def _pickled(tmp_path: Path) -> Iterator[str]:
    yield f"pickled://{tmp_path / 'store.pkl'}"


def _socket(
    layer: str | None, store: str = "file"
) -> Callable[[Path], AbstractContextManager[str]]:
    """A real ``track serve`` subprocess forwarding to a file:// or sqlite:// store."""

    @contextmanager
    def kind(tmp_path: Path) -> Iterator[str]:
        require("msgpack", "the server's wire format")
        if layer is not None:
            require("cryptography", f"the server's {layer} layer")
        from server.trackserver import make_tls, running_server

        folder = tmp_path / "track-server"
        folder.mkdir()
        target = {"file": f"file://{folder / 'store.json'}", "sqlite": f"sqlite:///{folder}/s.db"}
        extra: tuple[str, ...] = ()
        query = {}
        if layer == "TLS":
            cert, key = make_tls(folder)
            extra = ("--tls-cert", str(cert), "--tls-key", str(key))
            query = {"ca": str(cert)}
        with running_server(folder, target[store], layer=layer, extra=extra) as server:
            yield server.uri(**query)

    return kind


@contextmanager
def _sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'store.db'}"


#: the PostgreSQL the suite uses (trust auth); each test gets its own schema, dropped afterwards
POSTGRES = os.environ.get("TRACK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_or_skip() -> str:
    """The test PostgreSQL's URI; skips when it is unreachable, fails instead when CI=true."""
    psycopg = require("psycopg")
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        unavailable(f"PostgreSQL at {POSTGRES} is unreachable: {error}")
    return POSTGRES


@contextmanager
def fresh_postgres_schema(scheme: str = "postgresql") -> Iterator[str]:
    """A store URI on a new schema of the test database, dropped (CASCADE) afterwards."""
    base = postgres_or_skip()  # first: it reaches require("psycopg") before psycopg is imported
    import psycopg
    from psycopg import sql

    schema = f"track_test_{uuid.uuid4().hex[:16]}"
    try:
        yield f"{scheme}://{base.split('://', 1)[1]}?schema={schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            conn.execute(drop)


@pytest.fixture
def fresh_postgres() -> Callable[..., AbstractContextManager[str]]:
    """``fresh_postgres_schema``, for tests that need a PostgreSQL store URI of their own."""
    return fresh_postgres_schema


@contextmanager
def _postgresql(tmp_path: Path) -> Iterator[str]:
    with fresh_postgres_schema() as uri:
        yield uri


#: test id -> context manager yielding a fresh store URI
STORE_KINDS: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "ephemeral": _ephemeral,
    "file": _file,
    "pickled": _pickled,
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "socket-aes": _socket("AES"),
    "socket-plain": _socket(None),
    "socket-tls-sqlite": _socket("TLS", "sqlite"),
    "socket-aes-sqlite": _socket("AES", "sqlite"),
}

#: stores that another process can open (ephemeral lives in one process only)
SHARED_STORE_KINDS = [k for k in STORE_KINDS if k != "ephemeral"]


@pytest.fixture(params=list(STORE_KINDS))
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind."""
    with STORE_KINDS[request.param](tmp_path) as uri:
        yield uri


@pytest.fixture(params=SHARED_STORE_KINDS)
def shared_store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store of each kind that several processes can open at once."""
    with STORE_KINDS[request.param](tmp_path) as uri:
        yield uri


@pytest.fixture
def store_kinds() -> dict[str, Callable[[Path], AbstractContextManager[str]]]:
    """Every store kind's builder, for a test that picks its kinds by name.

    (``from conftest import STORE_KINDS`` is not reliable: in a whole-suite run the name
    ``conftest`` may be another folder's conftest.)
    """
    return STORE_KINDS


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Run each test in its own folder with no TRACK_* or ORION_* variables leaking in."""
    for name in list(os.environ):
        if name.startswith(("TRACK_", "ORION_")):
            monkeypatch.delenv(name)
    # clients record AES server keys there, never in the real ~/.config/track/known_servers
    config = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("TRACK_KNOWN_SERVERS", str(config / "known_servers"))
    monkeypatch.chdir(tmp_path)
