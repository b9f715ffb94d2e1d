"""What ``kill -9`` of a logging process costs: a gap-free prefix, and every completed flush.

A real child logs ``x = step`` continuously through ``TrackClient`` and reports, through a file
it appends to with single ``write`` calls, every flush the store acknowledged (the last step it
carried) and its logging progress. The parent kills it with SIGKILL at a seeded random moment
(the seed is printed; ``TRACK_KILL_SEED=<seed>`` replays it) and checks the store: the steps are
exactly 0..k with no hole, and k covers every flush the child saw completed, so what is lost is
only what was logged after the last completed flush began, about one flush interval plus one
flush's duration. The measured loss is printed, never asserted against a clock.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from track.persistence import get_protocol

DEADLINE = 60.0
FLUSH_INTERVAL = 0.5

CHILD = """
import os, sys, time
from track import TrackClient
from track.persistence import get_protocol

uri, progress, interval, name = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
out = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

def report(line):
    os.write(out, (line + "\\n").encode())

store = get_protocol(uri)
write = store.log_trial_batch

def reporting(trial, batch):
    began = time.monotonic()
    applied = write(trial, batch)
    points = batch.series.get("x")
    if points:
        report(f"flushed {points[-1][0]} {time.monotonic() - began:.6f}")
    return applied

store.log_trial_batch = reporting
client = TrackClient(store, flush_interval=interval)
trial = client.new_trial(parameters={"run": name})
with trial:
    report(f"trial {trial.uid}")
    step = 0
    while True:
        trial.log_metrics(step=step, x=float(step))
        if step % 100 == 99:
            report(f"logged {step}")
            time.sleep(0.001)
        step += 1
"""


def progress_of(path: Path) -> dict[str, Any]:
    """The child's reports: trial uid, acknowledged flushes, last step logged."""
    found: dict[str, Any] = {"uid": None, "flushed": [], "durations": [], "logged": -1}
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        kind, *fields = line.split()
        if kind == "trial":
            found["uid"] = fields[0]
        elif kind == "flushed":
            found["flushed"].append(int(fields[0]))
            found["durations"].append(float(fields[1]))
        elif kind == "logged":
            found["logged"] = int(fields[0])
    return found


def wait_for(condition: Any, what: str) -> None:
    """Poll ``condition`` until true, failing after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def kill_round(uri: str, tmp_path: Path, name: str, delay: float, after_flush: bool) -> str:
    """Start a logging child, SIGKILL it ``delay`` s later, check the store; returns a summary."""
    progress = tmp_path / f"{name}.progress"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, uri, str(progress), str(FLUSH_INTERVAL), name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: progress_of(progress)["uid"] or child.poll() is not None, "the trial")
        if after_flush:
            wait_for(lambda: progress_of(progress)["flushed"] or child.poll(), "a first flush")
        time.sleep(delay)
        assert child.poll() is None, child.communicate()[1]
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.communicate(timeout=DEADLINE)
    seen = progress_of(progress)

    reader = get_protocol(uri)
    try:
        [trial] = reader.fetch_trials({"uid": seen["uid"]})
    finally:
        reader.close()
    points = trial.metrics.get("x", [])
    steps = [p[0] for p in points]
    assert steps == list(range(len(steps))), "the stored steps have a hole"
    assert all(p[1] == p[0] for p in points), "a stored value does not match its step"
    times = [p[2] for p in points]
    assert times == sorted(times), "the stored timestamps go backwards"
    last_stored = len(steps) - 1
    last_flushed = max(seen["flushed"], default=-1)
    assert last_stored >= last_flushed, (
        f"the child saw step {last_flushed} flushed, the store holds up to {last_stored}"
    )
    lost = max(0, seen["logged"] - last_stored)
    durations = seen["durations"] or [0.0]
    return (
        f"{name}: killed {delay:.3f}s {'after the first flush' if after_flush else 'in'}; "
        f"stored 0..{last_stored}, last acknowledged flush {last_flushed}, logged >= "
        f"{seen['logged']}, lost >= {lost} points; {len(seen['flushed'])} flushes, "
        f"median {statistics.median(durations) * 1000:.1f} ms, max {max(durations) * 1000:.1f} ms"
    )


def test_kill_9_keeps_a_gap_free_prefix_and_every_completed_flush(
    tmp_path: Path, shared_store_uri: str
) -> None:
    """SIGKILL at random moments: the store holds steps 0..k, k past every acknowledged flush."""
    seed = int(os.environ.get("TRACK_KILL_SEED") or random.randrange(2**32))
    print(f"\nTRACK_KILL_SEED={seed}")
    rng = random.Random(seed)
    rounds = [(rng.uniform(0.2, 2.5), False), (rng.uniform(0.0, 1.0), True)]
    for number, (delay, after_flush) in enumerate(rounds):
        print(kill_round(shared_store_uri, tmp_path, f"round{number}", delay, after_flush))
