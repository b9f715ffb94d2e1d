"""``track copy`` copies artifacts too: streamed, byte for byte, skipped when DST holds them.

Pairs of real stores of different kinds (file, pickled, SQLite, PostgreSQL, a ``track serve``
subprocess); the command itself runs as a subprocess.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import pytest

from track.persistence import get_protocol
from track.persistence.artifacts import CHUNK_SIZE
from track.persistence.protocol import Protocol
from track.persistence.transfer import copy_store
from track.structure import Trial

StoreKinds = dict[str, Callable[[Path], AbstractContextManager[str]]]

MODEL = os.urandom(2 * CHUNK_SIZE + 5)  # three chunks
PLOT = os.urandom(2000)


def fill(store: Protocol) -> list[Trial]:
    """Three trials: two sharing a multi-chunk artifact, one with none; a nested name, an
    empty file."""
    trials = [Trial(name=name, parameters={"n": name}) for name in ("a", "b", "c")]
    for trial in trials:
        store.new_trial(trial)
    a, b, _ = trials
    store.put_artifact(a, "model.pt", io.BytesIO(MODEL))
    store.put_artifact(a, "plots/loss.png", io.BytesIO(PLOT))
    store.put_artifact(a, "empty.json", io.BytesIO(b""))
    store.put_artifact(b, "model.pt", io.BytesIO(MODEL))
    return trials


def index(store: Protocol, trial: Trial) -> list[tuple[str, int, str, str]]:
    """A trial's artifacts as (name, size, sha256, media type): what a copy must keep."""
    return [(a.name, a.size, a.sha256, a.media_type) for a in store.list_artifacts(trial)]


def contents(store: Protocol, trial: Trial) -> dict[str, bytes]:
    """Each of a trial's artifacts, read back (digest checked)."""
    return {
        a.name: b"".join(store.open_artifact(trial, a.name)) for a in store.list_artifacts(trial)
    }


@pytest.fixture
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, store_kinds: StoreKinds
) -> Iterator[tuple[str, str]]:
    """A fresh source and destination store of the two kinds named by the parameter."""
    source_kind, destination_kind = request.param
    with ExitStack() as stack:
        uris = []
        for side, kind in (("src", source_kind), ("dst", destination_kind)):
            folder = tmp_path / side
            folder.mkdir()
            uris.append(stack.enter_context(store_kinds[kind](folder)))
        yield uris[0], uris[1]


PAIRS = [
    ("file", "sqlite"),
    ("sqlite", "postgresql"),
    ("postgresql", "socket-aes"),
    ("socket-aes-sqlite", "pickled"),
]


@pytest.mark.parametrize("pair", PAIRS, indirect=True, ids=["-".join(p) for p in PAIRS])
def test_copy_moves_artifacts_between_kinds_byte_for_byte(pair: tuple[str, str]) -> None:
    """Every artifact arrives with its name, size, sha256 and media type and the same bytes; a
    second copy copies none (DST holds each name with the same sha256); an artifact SRC
    replaced is copied again, replacing DST's."""
    source_uri, destination_uri = pair
    source = get_protocol(source_uri)
    destination = get_protocol(destination_uri)
    try:
        trials = fill(source)
        report = copy_store(source, destination)
        assert (report.created, report.artifacts, report.unchanged_artifacts) == (3, 4, 0)
        assert report.artifact_bytes == 2 * len(MODEL) + len(PLOT)
        assert report.warnings == []
        for trial in trials:
            assert index(destination, trial) == index(source, trial)
            assert contents(destination, trial) == contents(source, trial)
        assert contents(destination, trials[0])["model.pt"] == MODEL

        again = copy_store(source, destination)
        assert (again.artifacts, again.artifact_bytes, again.unchanged_artifacts) == (0, 0, 4)

        replot = os.urandom(700)
        source.put_artifact(trials[0], "plots/loss.png", io.BytesIO(replot))
        third = copy_store(source, destination)
        assert (third.artifacts, third.artifact_bytes, third.unchanged_artifacts) == (1, 700, 3)
        assert contents(destination, trials[0])["plots/loss.png"] == replot
    finally:
        destination.close()
        source.close()


def run_copy(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m track.cli copy ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "track.cli", "copy", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_track_copy_counts_artifacts_and_a_dry_run_copies_none(tmp_path: Path) -> None:
    """The command's dry run lists the artifacts it would copy and writes nothing; the copy
    says how many it copied and how many bytes; run again, it says they are unchanged."""
    source_uri = f"file://{tmp_path / 'offline.json'}"
    destination_uri = f"sqlite:///{tmp_path / 'central.db'}"
    source = get_protocol(source_uri)
    a = fill(source)[0]
    source.close()

    dry = run_copy("--dry-run", source_uri, destination_uri)
    assert dry.returncode == 0, dry.stderr
    assert f"would copy artifact 'model.pt' of trial {a.uid} ({len(MODEL)} bytes)" in dry.stdout
    total = 2 * len(MODEL) + len(PLOT)
    assert f"artifacts: 4 to copy ({total} bytes), 0 unchanged" in dry.stdout
    assert not (tmp_path / "central.db").exists()

    done = run_copy(source_uri, destination_uri)
    assert done.returncode == 0, done.stderr
    assert f"artifacts: 4 copied ({total} bytes), 0 unchanged" in done.stdout
    again = run_copy(source_uri, destination_uri)
    assert "artifacts: 0 copied (0 bytes), 4 unchanged" in again.stdout
    destination = get_protocol(destination_uri)
    try:
        assert contents(destination, a)["model.pt"] == MODEL
    finally:
        destination.close()


def test_a_corrupt_source_artifact_is_warned_about_and_not_copied(tmp_path: Path) -> None:
    """An SRC artifact whose bytes fail their digest is not copied (a warning names it); the
    trial's other artifacts are, and DST keeps no partial copy."""
    source = get_protocol(f"file://{tmp_path / 'src.json'}")
    destination = get_protocol(f"sqlite:///{tmp_path / 'dst.db'}")
    try:
        a = fill(source)[0]
        plot = next(info for info in source.list_artifacts(a) if info.name == "plots/loss.png")
        blob = tmp_path / "src.json.artifacts" / plot.sha256[:2] / plot.sha256[2:]
        blob.write_bytes(b"not the plot")
        report = copy_store(source, destination)
        assert report.artifacts == 3
        assert len(report.warnings) == 1
        assert "'plots/loss.png' not copied" in report.warnings[0]
        assert [info.name for info in destination.list_artifacts(a)] == ["empty.json", "model.pt"]
        folder = tmp_path / "dst.db.artifacts"
        assert not [p for p in folder.iterdir() if p.is_file()]  # no staged file left over
    finally:
        destination.close()
        source.close()


def test_a_destination_without_artifacts_gets_the_trials_and_one_warning(tmp_path: Path) -> None:
    """Copying into a store that keeps no artifacts (ephemeral:) copies the trials and says
    once that the artifacts were not copied."""
    source = get_protocol(f"file://{tmp_path / 'src.json'}")
    destination = get_protocol("ephemeral:")
    try:
        fill(source)
        report = copy_store(source, destination)
        assert (report.created, report.artifacts) == (3, 0)
        assert len(report.warnings) == 1
        assert "DST keeps no artifacts" in report.warnings[0]
    finally:
        source.close()


MEASURE = """
import json, resource, sys
from track.persistence.transfer import copy_store

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = copy_store(sys.argv[1], sys.argv[2])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before, "bytes": report.artifact_bytes}))
"""


def test_copy_streams_a_large_artifact_in_bounded_memory(tmp_path: Path) -> None:
    """A 64 MiB artifact is copied by a process whose peak RSS grows far less than the file."""
    mib = 64
    source_uri = f"file://{tmp_path / 'src.json'}"
    destination_uri = f"sqlite:///{tmp_path / 'dst.db'}"
    big = tmp_path / "big.bin"
    with open(big, "wb") as file:
        for _ in range(mib):
            file.write(os.urandom(CHUNK_SIZE))
    source = get_protocol(source_uri)
    trial = Trial(name="big", parameters={})
    source.new_trial(trial)
    info = source.put_artifact(trial, "big.bin", str(big))
    source.close()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, source_uri, destination_uri],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    assert measured["bytes"] == mib * CHUNK_SIZE
    assert measured["growth_kib"] < 16 * 1024, measured  # held whole: >= 64 MiB
    destination = get_protocol(destination_uri)
    try:
        assert index(destination, trial) == [(info.name, info.size, info.sha256, info.media_type)]
    finally:
        destination.close()
