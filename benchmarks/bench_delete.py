"""Deleting trials: seconds for ``delete_trials`` on stores holding many points.

Usage::

    python benchmarks/bench_delete.py [--trials 200] [--points 10000] [--stores file,sqlite]

Builds each store with ``--trials`` trials of one metric of ``--points`` points, then deletes
half of them in one ``delete_trials`` call (one transaction) and prints the time, and the time
of a ``set_trial_display`` on a remaining trial.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.structure import Trial


def measure(uri: str, trials: int, points: int) -> tuple[float, float]:
    """Seconds to delete half the trials of a filled store, and to rename one trial."""
    store = get_protocol(uri)
    made = []
    for index in range(trials):
        trial = Trial(name="bench", parameters={"index": index})
        store.new_trial(trial)
        series = [("loss", step, 1.0 / (step + 1), 0.0) for step in range(points)]
        store.log_trial_batch(trial, TrialBatch(metrics=series))
        made.append(trial.uid)
    started = time.perf_counter()
    deleted = store.delete_trials(made[::2])
    deleting = time.perf_counter() - started
    assert deleted == len(made[::2])
    started = time.perf_counter()
    store.set_trial_display(made[1], name="renamed")
    renaming = time.perf_counter() - started
    store.close()
    return deleting, renaming


def main() -> None:
    """Print one line per store kind."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--stores", default="file,sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        uris = {
            "file": f"file://{os.path.join(folder, 'store.json')}",
            "sqlite": f"sqlite:///{os.path.join(folder, 'track.db')}",
        }
        for kind in args.stores.split(","):
            deleting, renaming = measure(uris[kind], args.trials, args.points)
            count = (args.trials + 1) // 2
            print(
                f"{kind:7s} delete {count} trials ({count * args.points:,} points): "
                f"{deleting:.3f} s; rename one trial: {renaming * 1000:.1f} ms"
            )


if __name__ == "__main__":
    main()
