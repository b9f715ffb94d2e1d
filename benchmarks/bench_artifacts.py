"""Artifact throughput: MB/s of put_artifact and of reading back (digest checked), per store.

Run ``python benchmarks/bench_artifacts.py [--mib 200] [--stores file,sqlite,postgresql]``.
It prints a table: one random file of ``--mib`` MiB is put once and read back once per store
(the read verifies the sha256, as ``track artifacts get`` does), with the process's peak RSS
growth. PostgreSQL uses ``TRACK_BENCH_POSTGRES`` (default: the test database) and a fresh
schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import uuid
from pathlib import Path

from track.persistence import get_protocol
from track.persistence.artifacts import CHUNK_SIZE
from track.structure import Trial

POSTGRES = os.environ.get("TRACK_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def store_uri(kind: str, folder: Path) -> tuple[str, str | None]:
    """A fresh store URI of ``kind`` under ``folder``, and the PostgreSQL schema to drop."""
    if kind == "file":
        return f"file://{folder / 'store.json'}", None
    if kind == "sqlite":
        return f"sqlite:///{folder / 'store.db'}", None
    schema = f"track_bench_{uuid.uuid4().hex[:12]}"
    return f"{POSTGRES}?schema={schema}", schema


def drop_schema(schema: str) -> None:
    """Drop the benchmark's PostgreSQL schema."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def peak_mib() -> float:
    """This process's peak RSS so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, source: Path, folder: Path) -> tuple[float, float, float]:
    """Put and read back ``source`` on a fresh ``kind`` store: (put MB/s, get MB/s, RSS growth)."""
    uri, schema = store_uri(kind, folder)
    store = get_protocol(uri)
    try:
        trial = Trial(name="bench", parameters={"kind": kind})
        store.new_trial(trial)
        before = peak_mib()
        start = time.perf_counter()
        info = store.put_artifact(trial, "big.bin", str(source))
        put = time.perf_counter() - start
        start = time.perf_counter()
        size = sum(len(chunk) for chunk in store.open_artifact(trial, "big.bin"))
        get = time.perf_counter() - start
        assert size == info.size
        megabytes = info.size / 1e6
        return megabytes / put, megabytes / get, peak_mib() - before
    finally:
        store.close()
        if schema is not None:
            drop_schema(schema)


def main() -> None:
    """Print put and get throughput per store kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="file size in MiB (200)")
    parser.add_argument("--stores", default="file,sqlite,postgresql", help="store kinds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        source = folder / "big.bin"
        with open(source, "wb") as file:
            for _ in range(args.mib):
                file.write(os.urandom(CHUNK_SIZE))
        print(f"one {args.mib} MiB random file, put once and read back once (sha256 checked)")
        print(f"{'store':<12}{'put MB/s':>10}{'get MB/s':>10}{'peak RSS growth MiB':>22}")
        for kind in args.stores.split(","):
            kind_folder = folder / kind
            kind_folder.mkdir()
            put, get, growth = measure(kind, source, kind_folder)
            print(f"{kind:<12}{put:>10.0f}{get:>10.0f}{growth:>22.1f}")


if __name__ == "__main__":
    main()
