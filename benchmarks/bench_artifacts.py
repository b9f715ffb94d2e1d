"""Artifact throughput: MB/s of put_artifact and of reading back (digest checked), per store.

Run ``python benchmarks/bench_artifacts.py [--mib 200] [--stores file,sqlite,socket,...]``
(default: file, pickled, sqlite, postgresql, socket, socket-aes). It prints a table: one
random file of ``--mib`` MiB is put once and read back once per store (the read verifies the
sha256, as ``track artifacts get`` does), with the growth of this process's peak RSS (VmHWM,
reset before each store). PostgreSQL uses ``TRACK_BENCH_POSTGRES`` (default: the test
database) and a fresh schema, dropped afterwards. ``socket`` and ``socket-aes`` go through a
real ``track serve`` subprocess (no security layer, or AES) that keeps a sqlite store; for
them the table also gives the growth of the server's peak RSS from after the client's login
(whose scrypt password check alone takes 128 MiB) to the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from track.persistence import get_protocol
from track.persistence.artifacts import CHUNK_SIZE
from track.structure import Trial

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from server.trackserver import running_server  # noqa: E402

POSTGRES = os.environ.get("TRACK_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


#: the server's security layer per socket kind
LAYERS = {"socket": None, "socket-aes": "AES"}


@contextmanager
def store_uri(kind: str, folder: Path) -> Iterator[tuple[str, int | None]]:
    """A fresh store URI of ``kind`` under ``folder``, and the pid of its server (if any).

    A PostgreSQL store gets a schema of its own, dropped afterwards; a socket store a server
    subprocess, stopped afterwards.
    """
    if kind in LAYERS:
        store = f"sqlite:///{folder / 'served.db'}"
        with running_server(folder, store, layer=LAYERS[kind]) as server:
            assert server.process is not None
            yield server.uri(), server.process.pid
            server.stop()
    elif kind == "postgresql":
        schema = f"track_bench_{uuid.uuid4().hex[:12]}"
        try:
            yield f"{POSTGRES}?schema={schema}", None
        finally:
            drop_schema(schema)
    else:
        local = {
            "file": f"file://{folder / 'store.json'}",
            "pickled": f"pickled://{folder / 'store.pkl'}",
            "sqlite": f"sqlite:///{folder / 'store.db'}",
        }
        yield local[kind], None


def drop_schema(schema: str) -> None:
    """Drop the benchmark's PostgreSQL schema."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def peak_mib(pid: int | str = "self") -> float:
    """The peak RSS (VmHWM) of process ``pid`` since it started or since ``reset_peak``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmHWM")


def reset_peak(pid: int | str = "self") -> float:
    """Reset the peak RSS of process ``pid`` to its current RSS (Linux), and return it in MiB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return peak_mib(pid)


def measure(kind: str, source: Path, folder: Path) -> tuple[float, float, float, float | None]:
    """Put and read back ``source`` on a fresh ``kind`` store: (put MB/s, get MB/s, peak RSS
    growth of this process, of the server process or None), growths in MiB."""
    with store_uri(kind, folder) as (uri, server):
        store = get_protocol(uri)  # a socket store logs in here
        try:
            trial = Trial(name="bench", parameters={"kind": kind})
            store.new_trial(trial)
            server_before = 0.0 if server is None else reset_peak(server)
            before = reset_peak()
            start = time.perf_counter()
            info = store.put_artifact(trial, "big.bin", str(source))
            put = time.perf_counter() - start
            start = time.perf_counter()
            size = sum(len(chunk) for chunk in store.open_artifact(trial, "big.bin"))
            get = time.perf_counter() - start
            assert size == info.size
            growth = peak_mib() - before
            served = None if server is None else peak_mib(server) - server_before
        finally:
            store.close()
    megabytes = info.size / 1e6
    return megabytes / put, megabytes / get, growth, served


def main() -> None:
    """Print put and get throughput per store kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="file size in MiB (200)")
    parser.add_argument(
        "--stores", default="file,pickled,sqlite,postgresql,socket,socket-aes", help="store kinds"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        source = folder / "big.bin"
        with open(source, "wb") as file:
            for _ in range(args.mib):
                file.write(os.urandom(CHUNK_SIZE))
        print(f"one {args.mib} MiB random file, put once and read back once (sha256 checked)")
        print(
            f"{'store':<12}{'put MB/s':>10}{'get MB/s':>10}{'peak RSS growth MiB':>22}"
            f"{'server peak RSS growth MiB':>29}"
        )
        for kind in args.stores.split(","):
            kind_folder = folder / kind
            kind_folder.mkdir()
            put, get, growth, served = measure(kind, source, kind_folder)
            server = "-" if served is None else f"{served:.1f}"
            print(f"{kind:<12}{put:>10.0f}{get:>10.0f}{growth:>22.1f}{server:>29}")


if __name__ == "__main__":
    main()
