"""``track ls`` on a big store: seconds to list it on a terminal and piped.

Usage::

    python benchmarks/bench_ls.py [--trials 2000] [--columns 80] [--stores file,sqlite]

Builds each store with ``--trials`` finished trials (4 parameters, 5 metrics of 10 points) through
the store's own API, then runs the real ``track ls`` console script (best of three): on a
pseudo-terminal of ``--columns`` columns (the default: the most recent 50 trials, fitted to the
width), on the terminal with ``--all``, and piped (TSV of every trial). Before issue 18, 2,000
trials took 4.7 s on a terminal and 0.6 s piped.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import subprocess
import tempfile
import time

from track.persistence import get_protocol
from track.structure import Status, Trial

TRACK = shutil.which("track") or "track"


def build(uri: str, trials: int) -> None:
    """Fill the store at ``uri`` with ``trials`` completed trials."""
    store = get_protocol(uri)
    store.defer_commits()
    now = time.time() - 10 * trials
    for index in range(trials):
        metrics = {
            name: [[step, (index + m + step) % 97 / 97, now + step] for step in range(10)]
            for m, name in enumerate(("loss", "val_loss", "accuracy", "val_accuracy", "lr_now"))
        }
        store.new_trial(
            Trial(
                name=f"sweep-{index:05d}",
                parameters={
                    "index": index,
                    "lr": 10 ** -(index % 5),
                    "batch_size": 16 << (index % 3),
                    "optimizer": "adam" if index % 2 else "sgd",
                },
                metadata={"start_time": now + index, "end_time": now + index + 60 + index % 7200},
                metrics=metrics,
                status=Status.Completed,
            )
        )
    store.commit()
    store.close()


def on_terminal(args: list[str], columns: int) -> float:
    """Seconds ``track ARGS`` takes with its output on a pseudo-terminal (read as it comes)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns)}
    start = time.perf_counter()
    process = subprocess.Popen([TRACK, *args], stdout=slave, stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    while True:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break
        elif process.poll() is not None:
            break
    process.wait()
    elapsed = time.perf_counter() - start
    os.close(master)
    return elapsed


def piped(args: list[str]) -> float:
    """Seconds ``track ARGS`` takes with its output piped."""
    start = time.perf_counter()
    subprocess.run([TRACK, *args], capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    """Build the stores and print one row per store and way of listing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--columns", type=int, default=80)
    parser.add_argument("--stores", default="file,sqlite")
    args = parser.parse_args()
    print(f"track ls, {args.trials} trials, terminal of {args.columns} columns (best of 3, s)")
    print(f"{'store':8} {'terminal (50)':>14} {'terminal --all':>15} {'piped':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.stores.split(","):
            uri = {"file": f"file://{folder}/s.json", "sqlite": f"sqlite:///{folder}/s.db"}[kind]
            build(uri, args.trials)
            ls = ["ls", "--store", uri]
            default = min(on_terminal(ls, args.columns) for _ in range(3))
            every = min(on_terminal([*ls, "--all"], args.columns) for _ in range(3))
            pipe = min(piped(ls) for _ in range(3))
            print(f"{kind:8} {default:14.2f} {every:15.2f} {pipe:8.2f}")


if __name__ == "__main__":
    main()
