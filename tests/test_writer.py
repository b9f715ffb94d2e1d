"""The writer process (``writer="process"``): same data as thread mode, kill -9, fork, fallback."""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from readback import stored_trial
from track import Status, TrackClient
from track.persistence.memory import EphemeralProtocol
from track.structure import Trial
from track.writer import ProcessPipeline

#: metadata keys whose values depend on the moment or the process, not on what was logged
MOMENT_KEYS = {
    "start_time",
    "end_time",
    "heartbeat",
    "environment",
    "git_commit",
    "git_dirty",
    "creation_request",
}
PR_SET_CHILD_SUBREAPER = 36


def wait_for(predicate, timeout: float = 30.0) -> None:
    """Poll ``predicate`` until true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def log_a_run(uri: str, writer: str) -> str:
    """Log metrics, metadata, tags, a timer, a status with an error; return the trial uid."""
    client = TrackClient(uri, writer=writer, flush_interval=0.05, system_metrics_interval=0)
    assert isinstance(client.pipeline, ProcessPipeline) == (writer == "process")
    client.set_project(name="same")
    trial = client.new_trial(parameters={"writer": writer})
    with pytest.raises(RuntimeError), trial:
        for step in range(3000):
            trial.log_metrics(step=step, loss=float(step), accuracy=step * 2)
            if step % 1000 == 0:
                trial.log_metadata(**{f"at{step}": step, "last": step})
                trial.add_tags(f"tag{step}", phase=step)
                with trial.chrono("block"):
                    pass
        trial.set_status(Status.Suspended, error="paused once")
        raise RuntimeError("boom")
    client.close()
    return trial.uid


def comparable(trial: Trial) -> dict[str, object]:
    """What was logged, without the moments it was logged at."""
    return {
        "metrics": {n: [(p[0], p[1]) for p in points] for n, points in trial.metrics.items()},
        "metadata": {k: v for k, v in trial.metadata.items() if k not in MOMENT_KEYS},
        "tags": trial.tags,
        "chronos": {
            name: chrono["count"] for name, chrono in trial.chronos.items() if name != "runtime"
        },
        "status": trial.status,
        "errors": [error.splitlines()[0] for error in trial.errors],
    }


def test_process_writer_stores_what_the_thread_stores(shared_store_uri: str) -> None:
    """Every point, metadata, tag, timer, status and error: stored once, as in thread mode."""
    by_thread = stored_trial(shared_store_uri, log_a_run(shared_store_uri, "thread"))
    by_process = stored_trial(shared_store_uri, log_a_run(shared_store_uri, "process"))
    assert len(by_process.metrics["loss"]) == 3000
    assert comparable(by_process) == comparable(by_thread)
    assert by_process.status == Status.Exception and "RuntimeError: boom" in by_process.errors[-1]
    assert "runtime" in by_process.chronos


def test_the_writer_process_beats_while_the_trainer_runs(tmp_path: Path) -> None:
    """The trainer says which trial runs; the writer's pipeline writes its heartbeats."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    client = TrackClient(uri, writer="process", heartbeat_interval=0.1, flush_interval=0.05)
    client.set_project(name="beats")
    trial = client.new_trial(parameters={"a": 1})
    with trial:
        trial.flush()
        first = stored_trial(uri, trial.uid).metadata["heartbeat"]
        wait_for(lambda: stored_trial(uri, trial.uid).metadata["heartbeat"] > first)
    client.close()


# A trainer logging one point per step (value == step) at a steady pace; after each step it
# publishes (steps logged, entries handed over to the writer) in a shared counter file.
class Version(str):
    """A str subclass, like torch's TorchVersion or numpy.str_: JSON takes it, marshal does not."""


def test_values_of_str_subclasses_are_handed_over_as_plain_strings(tmp_path: Path) -> None:
    """Metadata holding a str subclass reaches the store (marshal alone refuses it)."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    client = TrackClient(uri, writer="process")
    client.set_project(name="subclass")
    trial = client.new_trial(parameters={"a": 1})
    with trial:
        trial.log_metadata(framework=Version("2.13.0"))
        trial.log_metrics(step=0, loss=1.0)
    client.close()
    stored = stored_trial(uri, trial.uid)
    assert stored.metadata["framework"] == "2.13.0"
    assert [point[1] for point in stored.metrics["loss"]] == [1.0]


TRAINER = textwrap.dedent(
    """
    import mmap, struct, sys, time
    from track import TrackClient

    uri, counter_path, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open(counter_path, "r+b") as f:
        counter = mmap.mmap(f.fileno(), 16)
    client = TrackClient(uri, writer="process", heartbeat_interval=0.2)
    client.set_project(name="kill")
    trial = client.new_trial(parameters={"kill": 1})
    pipeline = client.pipeline
    print(trial.uid, pipeline.process.pid, flush=True)
    begin = time.perf_counter()
    with trial:
        for step in range(10**9):
            trial.log_metrics(step=step, value=float(step))
            counter[:16] = struct.pack("qq", step + 1, pipeline.handed_over)
            ahead = (step + 1) / rate - (time.perf_counter() - begin)
            if ahead > 0.001:
                time.sleep(ahead)
    """
)


@pytest.fixture
def subreaper() -> Iterator[None]:
    """Make this process adopt orphaned descendants, so that a test can reap them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not available")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.mark.parametrize("kind", ["sqlite", "file", "postgresql", "socket-plain"])
def test_kill_9_of_the_trainer_keeps_everything_handed_over(
    kind: str,
    tmp_path: Path,
    subreaper: None,
    store_kinds: dict[str, Callable[[Path], AbstractContextManager[str]]],
) -> None:
    """The writer drains what it received, exits 0 (reaped: no zombie); a gap-free prefix."""
    seed = int(os.environ.get("TRACK_KILL_SEED") or random.randrange(2**32))
    print(f"kill point seed {seed} (TRACK_KILL_SEED={seed} replays it)")
    with store_kinds[kind](tmp_path) as uri:
        counter_path = tmp_path / "counter"
        counter_path.write_bytes(b"\0" * 16)
        trainer = subprocess.Popen(
            [sys.executable, "-c", TRAINER, uri, str(counter_path), "50000"],
            stdout=subprocess.PIPE,
            text=True,
        )
        uid, writer_pid = trainer.stdout.readline().split()

        def counts() -> tuple[int, int]:
            with open(counter_path, "rb") as file:
                view = mmap.mmap(file.fileno(), 16, access=mmap.ACCESS_READ)
                return struct.unpack("qq", view[:16])

        wait_for(lambda: counts()[1] > 5_000)
        time.sleep(random.Random(seed).uniform(0.0, 0.5))  # the kill point
        trainer.kill()
        trainer.wait()
        logged, handed_over = counts()
        # the writer is now this process's child (subreaper): wait for its exit and reap it
        _, status = os.waitpid(int(writer_pid), 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not Path(f"/proc/{writer_pid}").exists(), "the writer was reaped: no zombie"
        steps = [p[0] for p in stored_trial(uri, uid).metrics["value"]]
        assert steps == list(range(len(steps))), "points stored are a prefix, without holes"
        assert handed_over <= len(steps) <= logged, (handed_over, len(steps), logged)
        print(f"logged {logged}, handed over {handed_over}, stored {len(steps)}")


# A trainer that forks a child while its pipeline holds buffered entries; the child's log call
# must raise, and the child then exits normally (atexit runs) while the parent closes.
FORKING = textwrap.dedent(
    """
    import os, sys
    from track import TrackClient
    from track.errors import TrackError

    uri, writer = sys.argv[1], sys.argv[2]
    client = TrackClient(uri, writer=writer, flush_interval=60, handover_interval=60,
                         exit_timeout=20)
    client.set_project(name="fork")
    trial = client.new_trial(parameters={"writer": writer})
    trial.start()
    for step in range(500):
        trial.log_metrics(step=step, value=float(step))
    release_read, release_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(release_write)
        try:
            trial.log_metrics(step=10**6, value=-1.0)
        except TrackError as error:
            print("child refused:", error, flush=True)
        os.read(release_read, 1)  # outlive the parent's close
        sys.exit(0)
    os.close(release_read)
    for step in range(500, 1000):
        trial.log_metrics(step=step, value=float(step))
    trial.finish()
    closed = client.pipeline.close()
    print("parent closed", closed, flush=True)
    os.write(release_write, b"x")
    _, status = os.waitpid(pid, 0)
    print("child exit", os.waitstatus_to_exitcode(status), trial.uid, flush=True)
    """
)


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_a_forked_child_neither_writes_nor_spills_the_parents_entries(
    writer: str, tmp_path: Path
) -> None:
    """The child's log call raises TrackError; the parent's points are stored exactly once."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    done = subprocess.run(
        [sys.executable, "-c", FORKING, uri, writer],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any("belongs to process" in line for line in lines if line.startswith("child refused"))
    assert "parent closed True" in lines, done.stdout + done.stderr
    exit_line = next(line for line in lines if line.startswith("child exit"))
    assert exit_line.split()[2] == "0"
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert not list(tmp_path.glob("track-spill-*")), "nothing spilled"
    trial = stored_trial(uri, exit_line.split()[3])
    assert [p[0] for p in trial.metrics["value"]] == list(range(1000))
    assert trial.status == Status.Completed


def test_a_killed_writer_process_is_reported_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL of the writer mid-run: an error is logged; the trainer writes the rest itself."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    client = TrackClient(uri, writer="process")
    client.set_project(name="writer-killed")
    trial = client.new_trial(parameters={"a": 1})
    pipeline = client.pipeline
    assert isinstance(pipeline, ProcessPipeline)
    with trial:
        for step in range(20_000):
            trial.log_metrics(step=step, value=float(step))
            if step == 8_000:
                wait_for(lambda: pipeline.handed_over > 0)
                pipeline.process.send_signal(signal.SIGKILL)
    client.close()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "track.writer"]
    assert errors and "writer process" in errors[0].getMessage()
    found = stored_trial(uri, trial.uid)
    steps = [p[0] for p in found.metrics["value"]]
    assert set(steps) == set(range(20_000)), "nothing logged is missing (duplicates documented)"
    assert found.status == Status.Completed


@pytest.mark.parametrize(
    ("make_client", "reason"),
    [
        (lambda: TrackClient(EphemeralProtocol(), writer="process"), "given as an object"),
        (
            lambda: TrackClient("sqlite:///s.db", writer="process", durability="sync"),
            "durability='sync'",
        ),
    ],
    ids=["protocol-object", "sync"],
)
def test_where_no_writer_process_can_write_the_thread_does_and_says_why(
    make_client, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A store object or sync durability: a thread pipeline, and one INFO line saying why."""
    caplog.set_level(logging.INFO, logger="track.client")
    client = make_client()
    try:
        assert not isinstance(client.pipeline, ProcessPipeline)
        assert client.pipeline.options.writer == "thread"
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert any(reason in line and "writer process" in line for line in lines), lines
    finally:
        client.close()
