"""What one flush costs as the store grows: 100,000 new points, ``file://`` against ``sqlite://``.

Usage::

    python benchmarks/bench_flush.py [--sizes 100000,1000000,5000000] [--repeats 5]
                                     [--stores file,sqlite] [--points 100000]

One trial, three series. A flush is one ``log_trial_batch`` call with a ``TrialBatch`` of
``--points`` points (about what one 0.5 s flush interval of a fast training loop carries),
timed around the call, as the write pipeline makes it. Each store is filled with the same
batches (untimed) up to each size, then ``--repeats`` flushes are timed; the table gives their
median and maximum. For ``file://`` the maximum includes a journal compaction whenever a
timed flush crossed the compaction threshold; "compact s" times ``commit(compact=True)``
(folding the journal into the JSON document, what ``close()`` does) after the timed flushes.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch
from track.structure import Trial

SERIES = ("loss", "acc", "lr")


class Feeder:
    """Makes consecutive batches for one trial: steps continue, seqs increase."""

    def __init__(self, points: int) -> None:
        self.points = points
        self.step = 0
        self.seq = 0
        self.writer = uuid.uuid4().hex

    def next(self) -> TrialBatch:
        """The next batch of ``points`` points, spread over the series."""
        per = self.points // len(SERIES)
        now = time.time()
        series: dict[str, list[tuple[Any, float, float]]] = {}
        for index, name in enumerate(SERIES):
            count = per + (1 if index < self.points % len(SERIES) else 0)
            series[name] = [
                (step, step * 0.001, now + step * 1e-4)
                for step in range(self.step, self.step + count)
            ]
        self.step += per + 1
        self.seq += 1
        return TrialBatch(writer=self.writer, seq=self.seq, series=series)


def timed(store: Protocol, trial: Trial, batch: TrialBatch) -> float:
    """Seconds spent in one flush."""
    began = time.perf_counter()
    store.log_trial_batch(trial, batch)
    return time.perf_counter() - began


def measure(uri: str, sizes: list[int], repeats: int, points: int) -> list[dict[str, Any]]:
    """Fill the store at ``uri`` to each size and time ``repeats`` flushes there."""
    store = get_protocol(uri)
    trial = Trial(name="bench-flush", parameters={"uri": uri})
    store.new_trial(trial)
    feeder = Feeder(points)
    stored = 0
    rows = []
    for size in sizes:
        while stored < size:
            store.log_trial_batch(trial, feeder.next())
            stored += points
        gc.collect()
        durations = []
        for _ in range(repeats):
            batch = feeder.next()
            durations.append(timed(store, trial, batch))
            stored += points
        began = time.perf_counter()
        store.commit(compact=True)
        compact = time.perf_counter() - began
        rows.append(
            {
                "size": size,
                "median": statistics.median(durations),
                "max": max(durations),
                "compact": compact,
            }
        )
        print(
            f"  {uri.split(':')[0]} at {size:,}: median {rows[-1]['median'] * 1000:.0f} ms,"
            f" max {rows[-1]['max'] * 1000:.0f} ms",
            flush=True,
        )
    store.close()
    return rows


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--stores", default="file,sqlite")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    kinds = args.stores.split(",")
    results: dict[str, list[dict[str, Any]]] = {}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="track-bench-flush-") as folder:
        for kind in kinds:
            uri = {
                "file": f"file://{os.path.join(folder, 'store.json')}",
                "sqlite": f"sqlite:///{os.path.join(folder, 'store.db')}",
                "pickled": f"pickled://{os.path.join(folder, 'store.pkl')}",
            }[kind]
            results[kind] = measure(uri, sizes, args.repeats, args.points)
            gc.collect()
    header = ["points already stored"]
    for kind in kinds:
        header += [f"`{kind}://` median ms", f"`{kind}://` max ms"]
    if "file" in results:
        header.append("`file://` compact s")
    if "file" in results and "sqlite" in results:
        header.append("file / sqlite (median)")
    print(f"\n{args.points:,} new points per flush, median of {args.repeats} flushes")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for index, size in enumerate(sizes):
        cells = [f"{size:,}"]
        for kind in kinds:
            row = results[kind][index]
            cells += [f"{row['median'] * 1000:.0f}", f"{row['max'] * 1000:.0f}"]
        if "file" in results:
            cells.append(f"{results['file'][index]['compact']:.2f}")
        if "file" in results and "sqlite" in results:
            ratio = results["file"][index]["median"] / results["sqlite"][index]["median"]
            cells.append(f"{ratio:.2f}")
        print("| " + " | ".join(cells) + " |")
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
