"""Kill-test figures: points logged vs points stored after ``kill -9`` of the trainer.

For each store and writer mode (``thread``, ``process``) a trainer logs K=3 metrics per step at
a steady pace (``--rate`` steps per second; 18,000 is bench_step.py's ~55 µs numpy step) and
publishes its step count in shared memory after every step. It is killed with SIGKILL at a
random moment (seeded; the seed is printed), the writer process (process mode) is waited for and
reaped (this process is made a child subreaper), and the steps stored are counted. The table
gives, per store and mode, the worst of ``--runs`` runs: steps logged but not stored, and that
as milliseconds of logging; a run whose stored steps are not a gap-free prefix is counted too.

    python benchmarks/bench_kill.py                          # 20 runs per store and mode
    python benchmarks/bench_kill.py --runs 5 --stores sqlite,file --seed 7
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench_step import POSTGRES, track_server

PR_SET_CHILD_SUBREAPER = 36

TRAINER = textwrap.dedent(
    """
    import mmap, struct, sys, time
    from track import TrackClient

    uri, writer, counter_path, rate, run = sys.argv[1:6]
    rate = float(rate)
    with open(counter_path, "r+b") as f:
        counter = mmap.mmap(f.fileno(), 8)
    client = TrackClient(uri, writer=writer)
    client.set_project(name="bench-kill")
    trial = client.new_trial(parameters={"run": int(run), "writer": writer})
    process = getattr(client.pipeline, "process", None)
    print(trial.uid, process.pid if process else 0, flush=True)
    begin = time.perf_counter()
    with trial:
        for step in range(10**9):
            trial.log_metrics(step=step, m0=float(step), m1=1.0, m2=2.0)
            counter[:8] = struct.pack("q", step + 1)
            ahead = (step + 1) / rate - (time.perf_counter() - begin)
            if ahead > 0.001:
                time.sleep(ahead)
    """
)


@contextmanager
def store(kind: str, workdir: str) -> Iterator[str]:
    """A store URI of ``kind`` (sqlite, file, postgres, socket), where ``{run}`` names the run.

    Embedded stores get a file per run: a file:// store is read whole when opened, and the
    writer process opens it while the trainer logs.
    """
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/kill-{{run}}.db"
    elif kind == "file":
        yield f"file://{workdir}/kill-{{run}}.json"
    elif kind == "postgres":
        import psycopg
        from psycopg import sql

        schema = f"bench_kill_{os.getpid()}"
        try:
            yield f"{POSTGRES}?schema={schema}"
        finally:
            with psycopg.connect(POSTGRES, autocommit=True) as conn:
                drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                conn.execute(drop)
    elif kind == "socket":
        with track_server(workdir) as uri:
            yield uri
    else:
        raise SystemExit(f"unknown store {kind!r}")


def stored_steps(uri: str, uid: str) -> list[int]:
    """The steps of the ``m0`` series as a fresh reader sees them."""
    from track.persistence import get_protocol
    from track.structure import Trial

    protocol = get_protocol(uri)
    try:
        hash_, _, revision = uid.rpartition("_")
        found = protocol.get_trial(Trial(_hash=hash_, revision=int(revision)))
        return [point[0] for point in found[0].metrics.get("m0", [])] if found else []
    finally:
        protocol.close()


def one_run(
    uri: str, writer: str, rate: float, run: int, kill_after: float
) -> tuple[int, int, bool]:
    """Log, kill -9 after ``kill_after`` s of logging; (logged, stored, gap-free prefix)."""
    with tempfile.NamedTemporaryFile(prefix="bench-kill-counter-") as counter_file:
        counter_file.write(b"\0" * 8)
        counter_file.flush()
        command = [sys.executable, "-c", TRAINER, uri, writer, counter_file.name, str(rate)]
        trainer = subprocess.Popen([*command, str(run)], stdout=subprocess.PIPE, text=True)
        assert trainer.stdout is not None
        uid, writer_pid = trainer.stdout.readline().split()
        time.sleep(kill_after)
        trainer.kill()
        trainer.wait()
        if int(writer_pid):
            os.waitpid(int(writer_pid), 0)  # adopted (subreaper): wait until it drained, reap
        view = mmap.mmap(counter_file.fileno(), 8, access=mmap.ACCESS_READ)
        (logged,) = struct.unpack("q", view[:8])
    steps = stored_steps(uri, uid)
    return logged, len(steps), steps == list(range(len(steps)))


def main() -> None:
    """Run every store and writer mode ``--runs`` times and print the worst losses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rate", type=float, default=18_000.0, help="steps per second")
    parser.add_argument("--stores", default="sqlite,file,postgres,socket")
    parser.add_argument("--writers", default="thread,process")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    chooser = random.Random(seed)
    if ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit("prctl(PR_SET_CHILD_SUBREAPER) failed: Linux only")
    print(
        f"{os.cpu_count()} cores; K=3 metrics per step at {args.rate:.0f} steps/s; kill -9 at a "
        f"random moment 0.3-1.5 s into logging; worst of {args.runs} runs (seed {seed})\n"
    )
    print("| store | writer | worst lost steps | worst lost ms | median lost ms | not a prefix |")
    print("|---|---|---|---|---|---|")
    for kind in args.stores.split(","):
        with (
            tempfile.TemporaryDirectory(prefix="bench-kill-") as workdir,
            store(kind, workdir) as uri,
        ):
            for writer in args.writers.split(","):
                lost: list[int] = []
                holes = 0
                for run in range(args.runs):
                    run_uri = uri.replace("{run}", f"{writer}-{run}")
                    kill_after = chooser.uniform(0.3, 1.5)
                    logged, stored, prefix = one_run(run_uri, writer, args.rate, run, kill_after)
                    lost.append(logged - stored)
                    holes += not prefix
                ms = 1000 / args.rate
                print(
                    f"| {kind} | {writer} | {max(lost)} | {max(lost) * ms:.1f} | "
                    f"{statistics.median(lost) * ms:.1f} | {holes} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
