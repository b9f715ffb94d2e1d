"""Exactly-once, on every store kind: batches by (writer, seq), spill replays, reservations.

A store applies each (writer, seq) once, but an older batch that never landed (refused and
spilled) must still be applied when replayed, and ``track replay`` must say honestly what it
applied, found already present or could not apply, keeping the last in the spill file.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from track.errors import UnusableStore
from track.persistence import get_protocol
from track.persistence.memory import EphemeralProtocol
from track.persistence.protocol import Protocol, TrialBatch, TrialNotFound
from track.pipeline import PipelineOptions, WritePipeline, replay_spill
from track.structure import Project, Trial, TrialGroup


@pytest.fixture
def store(store_uri: str) -> Iterator[Protocol]:
    """The store behind ``store_uri``, closed afterwards."""
    protocol = get_protocol(store_uri)
    yield protocol
    protocol.close()


@contextmanager
def _open(uri: str) -> Iterator[Protocol]:
    protocol = get_protocol(uri)
    try:
        yield protocol
    finally:
        protocol.close()


def new_trial(store: Protocol, name: str) -> Trial:
    """A trial of project ``p``, inserted through the protocol."""
    if store.get_project(Project(name="p")) is None:
        store.new_project(Project(name="p"))
    stored = store.new_trial(Trial(name=name, project_id="p"), auto_increment=True)
    assert stored is not None
    return stored


def steps(store: Protocol, trial: Trial, metric: str = "loss") -> list[int]:
    """The steps of one series of a stored trial."""
    return [point[0] for point in store.get_trial_metrics(trial).get(metric, [])]


def batch(writer: str, seq: int, *points: int) -> TrialBatch:
    """A batch of ``loss`` points at the given steps."""
    return TrialBatch(writer=writer, seq=seq, metrics=[("loss", s, float(s), 1.0) for s in points])


def test_an_older_batch_is_applied_after_a_newer_one(store: Protocol) -> None:
    """seq 5 arriving after seq 6 is applied; resending either changes nothing."""
    trial = new_trial(store, "t")
    assert store.log_trial_batch(trial, batch("w", 6, 6)) is True
    assert store.log_trial_batch(trial, batch("w", 5, 5)) is True
    assert store.log_trial_batch(trial, batch("w", 5, 5)) is False
    assert store.log_trial_batch(trial, batch("w", 6, 6)) is False
    assert store.log_trial_batch(trial, batch("w", 7, 7)) is True
    assert sorted(steps(store, trial)) == [5, 6, 7]


def test_a_refused_batch_is_not_recorded_as_applied(store: Protocol) -> None:
    """A batch refused for a missing trial can be applied, once, after the trial exists."""
    ghost = Trial(name="ghost", project_id="p")
    with pytest.raises(TrialNotFound):
        store.log_trial_batch(ghost, batch("w", 1, 1))
    stored = new_trial(store, "ghost")
    assert stored.uid == ghost.uid
    assert store.log_trial_batch(stored, batch("w", 1, 1)) is True
    assert steps(store, stored) == [1]


def test_replay_applies_a_spilled_batch_older_than_an_applied_one(
    store: Protocol, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused (seq 1, spilled), then applied (seq 2): the replay applies seq 1 and says so."""
    present = new_trial(store, "present")
    ghost = Trial(name="later", project_id="p")
    pipeline = WritePipeline(store, PipelineOptions(spill_dir=str(tmp_path)))
    with caplog.at_level(logging.ERROR, logger="track.pipeline"):
        pipeline.log_metrics(ghost, 0, {"loss": 0.5}, 1.0)
        pipeline.flush()
    assert "refused a batch" in caplog.text
    pipeline.log_metrics(present, 0, {"loss": 0.25}, 1.0)
    pipeline.close()
    spill = Path(pipeline.spill_path())
    assert len(spill.read_text().splitlines()) == 1
    assert spill.stat().st_mode & 0o777 == 0o600, "the spill file is readable by others"
    assert steps(store, present) == [0]

    created = new_trial(store, "later")
    assert created.uid == ghost.uid
    report = replay_spill(str(spill), store)
    assert (report.applied, report.already_present, report.refused, report.kept) == (1, 0, [], 0)
    assert steps(store, created) == [0]
    assert not spill.exists(), "a fully replayed spill file is removed"


def test_replay_reports_present_and_refused_and_keeps_what_it_could_not_apply(
    store: Protocol, tmp_path: Path
) -> None:
    """One batch applied, one already present, one refused: only the refused one stays."""
    trial = new_trial(store, "t")
    store.log_trial_batch(trial, batch("w", 2, 2))
    ghost = Trial(name="never", project_id="p")
    spill = tmp_path / "track-spill-w.jsonl"
    records = [(trial, batch("w", 1, 1)), (trial, batch("w", 2, 2)), (ghost, batch("w", 3, 3))]
    spill.write_text(
        "".join(json.dumps({"trial": t.uid, "batch": b.to_doc()}) + "\n" for t, b in records)
    )
    report = replay_spill(str(spill), store)
    assert (report.applied, report.already_present, len(report.refused)) == (1, 1, 1)
    assert ghost.uid in report.refused[0]
    kept = [json.loads(line) for line in spill.read_text().splitlines()]
    assert [(r["trial"], r["batch"]["seq"]) for r in kept] == [(ghost.uid, 3)]
    assert sorted(steps(store, trial)) == [1, 2]


def test_replay_keeps_a_torn_line_and_refuses_a_file_that_is_not_a_spill(
    store: Protocol, tmp_path: Path
) -> None:
    """A line cut short by a crash is kept and reported; a foreign file is refused untouched."""
    trial = new_trial(store, "t")
    spill = tmp_path / "track-spill-w.jsonl"
    whole = json.dumps({"trial": trial.uid, "batch": batch("w", 1, 1).to_doc()})
    spill.write_text(whole + "\n" + whole[: len(whole) // 2] + "\n")
    report = replay_spill(str(spill), store)
    assert (report.applied, report.kept, len(report.refused)) == (1, 1, 1)
    assert report.refused[0].startswith("line 2: not a spill record")
    assert spill.read_text() == whole[: len(whole) // 2] + "\n"
    assert steps(store, trial) == [1]

    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello\n")
    with pytest.raises(UnusableStore, match="is not a track spill file"):
        replay_spill(str(foreign), store)
    assert foreign.read_text() == "hello\n"


def test_track_replay_command_reports_honestly(shared_store_uri: str, tmp_path: Path) -> None:
    """``track replay`` prints applied / already present / refused and exits 1 if any stay."""
    with _open(shared_store_uri) as store:
        trial = new_trial(store, "t")
        store.log_trial_batch(trial, batch("w", 2, 2))
    ghost = Trial(name="never", project_id="p")
    spill = tmp_path / "spill.jsonl"
    records = [(trial, batch("w", 1, 1)), (trial, batch("w", 2, 2)), (ghost, batch("w", 3, 3))]
    spill.write_text(
        "".join(json.dumps({"trial": t.uid, "batch": b.to_doc()}) + "\n" for t, b in records)
    )
    command = [sys.executable, "-m", "track.cli", "replay", str(spill), "--store", shared_store_uri]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACK_")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "applied 1 batches, 1 already present, 1 refused" in done.stdout
    assert f"1 batches stay in {spill}" in done.stdout
    with _open(shared_store_uri) as store:
        assert sorted(steps(store, trial)) == [1, 2]


class BuggyStore(EphemeralProtocol):
    """A memory store whose first two batch writes hit a bug (a TypeError) inside the store."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Fail twice with a TypeError, then apply."""
        if self.failures < 2:
            self.failures += 1
            raise TypeError("a bug that goes away")
        return super().log_trial_batch(trial, batch)


def test_a_store_bug_is_retried_not_spilled(tmp_path: Path) -> None:
    """A TypeError raised by a bug inside a store is retried; the batch lands once it works."""
    store = BuggyStore()
    trial = new_trial(store, "t")
    pipeline = WritePipeline(store, PipelineOptions(spill_dir=str(tmp_path)))
    pipeline.log_metrics(trial, 0, {"loss": 0.5}, 1.0)
    assert pipeline.close()
    assert store.failures == 2
    assert steps(store, trial) == [0]
    assert list(tmp_path.iterdir()) == []


def test_adding_to_a_missing_project_or_group_is_refused(store: Protocol) -> None:
    """add_project_trial / add_group_trial naming a missing project or group raise everywhere."""
    trial = new_trial(store, "t")
    with pytest.raises(TrialNotFound):
        store.add_project_trial(Project(name="missing"), trial)
    with pytest.raises(TrialNotFound):
        store.add_group_trial(TrialGroup(name="missing", project_id="p"), trial)
    stored = store.get_trial(trial)[0]
    assert stored.project_id == "p"
    assert list(stored.groups or []) == []
