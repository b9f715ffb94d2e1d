"""The ``file://`` journal: flushes append, compactions fold, readers merge, kills lose one line.

Real processes write, compact, read and get killed; the files are checked with ``json`` alone
where the docstring of :mod:`track.persistence.local` promises plain JSON (after ``close()``)
and through fresh track readers everywhere else.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from track.errors import UnusableStore
from track.persistence.local import FileProtocol
from track.persistence.protocol import TrialBatch
from track.structure import Trial

DEADLINE = 120.0


def run(code: str, *args: str) -> subprocess.Popen[str]:
    """Start ``code`` in a new interpreter with ``args``."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    """Wait for a child and return its stdout, failing with its stderr if it failed."""
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, err
    return out


def journal_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of the store's journal (the header first), parsed by ``json``."""
    with open(f"{path}.journal", "rb") as file:
        return [json.loads(line) for line in file]


def steps(store: Any, uid: str, name: str) -> list[Any]:
    """The steps of one series of one trial, as a track reader sees them."""
    [trial] = store.fetch_trials({"uid": uid})
    return [p[0] for p in trial.metrics.get(name, [])]


def batch(seq: int, first: int, count: int, name: str = "a", writer: str = "w") -> TrialBatch:
    """A batch of ``count`` points, steps ``first``.., from ``writer``."""
    points = [(name, step, float(step), 1000.0 + step) for step in range(first, first + count)]
    return TrialBatch(writer=writer, seq=seq, metrics=points)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """The document path of a fresh ``file://`` store."""
    return tmp_path / "store.json"


def new_trial(path: Path, name: str = "t") -> Trial:
    """Insert a trial (a document write) and return it."""
    store = FileProtocol(f"file://{path}")
    trial = Trial(name=name, parameters={"name": name})
    assert store.new_trial(trial) is not None
    store.close()
    return trial


def test_a_flush_appends_to_the_journal_and_leaves_the_document(path: Path) -> None:
    """log_trial_batch appends one journal line and leaves the document's bytes alone."""
    trial = new_trial(path)
    document = path.read_bytes()
    store = FileProtocol(f"file://{path}")
    for seq in range(1, 4):
        assert store.log_trial_batch(trial, batch(seq, 10 * seq, 10)) is True
    store.commit()  # what a track server does after every group of writes
    assert path.read_bytes() == document, "neither a flush nor a plain commit rewrote it"
    header, *lines = journal_lines(path)
    assert header["format"] == "track-journal/1"
    assert [(line["trial"], line["batch"]["seq"]) for line in lines] == [
        (trial.uid, 1),
        (trial.uid, 2),
        (trial.uid, 3),
    ]
    reader = FileProtocol(f"file://{path}")
    assert steps(reader, trial.uid, "a") == list(range(10, 40))
    reader.close()
    store.close()
    [doc] = json.loads(path.read_text())["trials"].values()
    assert [p[0] for p in doc["metrics"]["a"]] == list(range(10, 40))
    assert journal_lines(path)[1:] == [], "close() folded the journal into the document"


def test_a_document_write_folds_the_journal_in(path: Path) -> None:
    """A non-batch write (a new trial) rewrites the document with the journal's points in it."""
    trial = new_trial(path)
    store = FileProtocol(f"file://{path}")
    store.log_trial_batch(trial, batch(1, 0, 5))
    store.new_trial(Trial(name="other", parameters={"name": "other"}))
    state = json.loads(path.read_text())
    assert [p[0] for p in state["trials"][trial.uid]["metrics"]["a"]] == list(range(5))
    assert len(state["trials"]) == 2
    assert journal_lines(path)[1:] == []
    store.close()


def test_a_large_journal_is_compacted_by_the_flush(path: Path) -> None:
    """Once the journal outgrows ``compact_bytes`` and the document, the flush compacts it."""
    trial = new_trial(path)
    store = FileProtocol(f"file://{path}")
    store.compact_bytes = 1
    store.log_trial_batch(trial, batch(1, 0, 200))
    state = json.loads(path.read_text())
    assert [p[0] for p in state["trials"][trial.uid]["metrics"]["a"]] == list(range(200))
    assert journal_lines(path)[1:] == []
    store.log_trial_batch(trial, batch(2, 200, 5))
    assert len(journal_lines(path)) == 2, "a small batch stays in the journal"
    store.close()


def test_an_old_high_water_mark_file_is_read_as_ranges(path: Path) -> None:
    """A file whose writer record is an int N reads as [[0, N]]: older seqs skip, N+1 applies."""
    trial = new_trial(path)
    state = json.loads(path.read_text())
    for key in ("requests", "journal"):
        del state[key]
    state["writers"] = {"w": 5}
    path.write_text(json.dumps(state))
    store = FileProtocol(f"file://{path}")
    assert store.log_trial_batch(trial, batch(5, 0, 1)) is False
    assert store.log_trial_batch(trial, batch(3, 0, 1)) is False
    assert store.log_trial_batch(trial, batch(6, 6, 1)) is True
    store.close()
    state = json.loads(path.read_text())
    assert state["writers"] == {"w": [[0, 6]]}
    assert state["requests"] == {}
    assert [p[0] for p in state["trials"][trial.uid]["metrics"]["a"]] == [6]


def test_a_crash_between_document_and_new_journal_applies_nothing_twice(path: Path) -> None:
    """The document remembers which journal bytes it holds: the old journal left behind by a
    crash right after the document was written is not applied again, and is appended to."""
    trial = new_trial(path)
    store = FileProtocol(f"file://{path}")
    for seq in range(1, 4):
        store.log_trial_batch(trial, batch(seq, 10 * seq, 3))
    journal = Path(f"{path}.journal")
    old_journal = journal.read_bytes()
    store.commit(compact=True)
    store.close()
    journal.write_bytes(old_journal)  # what the crash leaves: the new document, the old journal

    reader = FileProtocol(f"file://{path}")
    assert steps(reader, trial.uid, "a") == [10, 11, 12, 20, 21, 22, 30, 31, 32]
    assert reader.log_trial_batch(trial, batch(4, 40, 2)) is True
    assert len(journal_lines(path)) == 5, "appended to the old journal"
    again = FileProtocol(f"file://{path}")
    assert steps(again, trial.uid, "a") == [10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41]
    again.close()
    reader.close()


LOG_AND_EXIT = """
import sys
from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
store = get_protocol(sys.argv[1])
[trial] = store.fetch_trials({"uid": sys.argv[2]})
for seq in (1, 2):
    points = [("a", s, float(s), 1.0) for s in range(10 * seq, 10 * seq + 10)]
    store.log_trial_batch(trial, TrialBatch(writer="w", seq=seq, metrics=points))
"""


def test_a_cut_short_last_line_is_ignored_and_its_batch_replays(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A journal whose last line a kill cut short: readers skip it (with a warning), its seq is
    not recorded, so the replayed batch applies; the next append removes the cut bytes."""
    trial = new_trial(path)
    uri = f"file://{path}"
    finish(run(LOG_AND_EXIT, uri, trial.uid))
    journal = Path(f"{path}.journal")
    os.truncate(journal, journal.stat().st_size - 25)  # the bytes a kill mid-append never wrote

    reader = FileProtocol(uri)
    with caplog.at_level(logging.WARNING, logger="track.persistence.local"):
        assert steps(reader, trial.uid, "a") == list(range(10, 20))
    assert "cut-short line" in caplog.text
    replayed = batch(2, 20, 10)
    assert reader.log_trial_batch(reader.get_trial(trial)[0], replayed) is True
    assert reader.log_trial_batch(trial, replayed) is False
    assert len(journal_lines(path)) == 3, "every line parses: the cut bytes are gone"
    fresh = FileProtocol(uri)
    assert steps(fresh, trial.uid, "a") == list(range(10, 30))
    fresh.close()
    reader.close()
    [doc] = json.loads(path.read_text())["trials"].values()
    assert [p[0] for p in doc["metrics"]["a"]] == list(range(10, 30))


def test_a_damaged_line_inside_the_journal_is_named_not_skipped(path: Path) -> None:
    """A whole line that is not a batch (not a kill's cut-short tail): reading refuses with
    UnusableStore naming the journal, rather than a bare ValueError or silently skipping it."""
    trial = new_trial(path)
    uri = f"file://{path}"
    finish(run(LOG_AND_EXIT, uri, trial.uid))
    journal = Path(f"{path}.journal")
    lines = journal.read_bytes().split(b"\n")
    lines[1] = b"{not json" + lines[1][9:]
    journal.write_bytes(b"\n".join(lines))

    with pytest.raises(UnusableStore, match="not a track batch") as raised:
        FileProtocol(uri).fetch_trials({"uid": trial.uid})
    assert str(journal) in str(raised.value)


BIG_APPEND = """
import sys, time
from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
store = get_protocol(sys.argv[1])
[trial] = store.fetch_trials({"uid": sys.argv[2]})
count = int(sys.argv[3])
big = TrialBatch(writer="k", seq=1, metrics=[("a", s, float(s), 1.0) for s in range(count)])
print("appending", flush=True)
store.log_trial_batch(trial, big)
print("appended", flush=True)
time.sleep(600)
"""


def test_kill_9_during_a_big_append_leaves_the_batch_whole_or_absent(path: Path) -> None:
    """SIGKILL while a batch of a million points is being appended: a reader sees all of it or
    none of it, and replaying it leaves it stored exactly once."""
    count = 1_000_000
    trial = new_trial(path)
    uri = f"file://{path}"
    journal = Path(f"{path}.journal")
    child = run(BIG_APPEND, uri, trial.uid, str(count))
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "appending"
    deadline = time.monotonic() + DEADLINE
    while not (journal.exists() and journal.stat().st_size > 200):
        assert time.monotonic() < deadline and child.poll() is None, "the append never began"
        time.sleep(0.0005)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=DEADLINE)
    size = journal.stat().st_size

    reader = FileProtocol(uri)
    seen = steps(reader, trial.uid, "a")
    print(f"killed with {size:,} journal bytes on disk; a reader saw {len(seen):,} points")
    assert seen in ([], list(range(count)))
    replay = TrialBatch(writer="k", seq=1, metrics=[("a", s, float(s), 1.0) for s in range(count)])
    assert reader.log_trial_batch(trial, replay) is (seen == [])
    reader.close()
    fresh = FileProtocol(uri)
    assert steps(fresh, trial.uid, "a") == list(range(count))
    fresh.close()


WRITER = """
import sys, time
from pathlib import Path
from track.errors import UnusableStore
from track.persistence.local import FileProtocol
from track.persistence.protocol import TrialBatch

FileProtocol.compact_bytes = 1  # compact whenever the journal outgrows the document
path, name, own_uid, shared_uid, go = sys.argv[1:6]
batches, per = int(sys.argv[6]), int(sys.argv[7])
while not Path(go).exists():
    time.sleep(0.005)
store = FileProtocol("file://" + path)
[own] = store.fetch_trials({"uid": own_uid})
[shared] = store.fetch_trials({"uid": shared_uid})
seq = 0
for i in range(batches):
    points = [("a", s, float(s), 1.0) for s in range(i * per, (i + 1) * per)]
    for trial, metric in ((own, "a"), (shared, name)):
        seq += 1
        mine = [(metric, s, v, t) for _, s, v, t in points]
        assert store.log_trial_batch(trial, TrialBatch(writer=name, seq=seq, metrics=mine))
    if i % 25 == 24:
        store.log_trial_arguments(own, **{f"p{i}": i})  # a document rewrite in between
store.close()
"""

COMPACTOR = """
import sys, time
from pathlib import Path
from track.errors import UnusableStore
from track.persistence.local import FileProtocol
path, stop = sys.argv[1], Path(sys.argv[2])
store = FileProtocol("file://" + path)
count = 0
while not stop.exists():
    store.commit(compact=True)
    count += 1
    time.sleep(0.01)
print(count)
"""

READER = """
import json, sys, time
from track.errors import UnusableStore
from track.persistence.local import FileProtocol
path, expected = sys.argv[1], json.loads(sys.argv[2])
reader = FileProtocol("file://" + path)
last, reads, problems = {}, 0, []
deadline = time.monotonic() + 100
while time.monotonic() < deadline:
    reads += 1
    done = True
    for trial in reader.fetch_trials(None):
        for name, points in trial.metrics.items():
            got = [p[0] for p in points]
            if got != list(range(len(got))):
                problems.append(f"{trial.name}.{name}: not a gap-free prefix at read {reads}")
            if len(got) < last.get((trial.name, name), 0):
                problems.append(f"{trial.name}.{name}: shrank at read {reads}")
            last[(trial.name, name)] = len(got)
    for key, count in expected.items():
        name, metric = key.split(".")
        if last.get((name, metric), 0) != count:
            done = False
    if done or problems:
        break
print(json.dumps({"reads": reads, "problems": problems[:5], "last": {".".join(k): v for k, v in last.items()}}))
"""


def test_two_writers_a_compactor_and_a_reader_at_once(tmp_path: Path, path: Path) -> None:
    """Two processes append batches while compactions run (theirs and a third process's): a
    fourth, long-lived reader only ever sees gap-free prefixes and finally everything."""
    batches, per = 120, 40
    names = ["w0", "w1"]
    store = FileProtocol(f"file://{path}")
    own = {}
    for name in names:
        own[name] = Trial(name=name, parameters={"name": name})
        store.new_trial(own[name])
    shared = Trial(name="shared", parameters={"name": "shared"})
    store.new_trial(shared)
    store.close()
    total = batches * per
    expected = {f"{n}.a": total for n in names} | {f"shared.{n}": total for n in names}
    go, stop = tmp_path / "go", tmp_path / "stop"
    writers = [
        run(WRITER, str(path), n, own[n].uid, shared.uid, str(go), str(batches), str(per))
        for n in names
    ]
    compactor = run(COMPACTOR, str(path), str(stop))
    reader = run(READER, str(path), json.dumps(expected))
    go.touch()
    for writer in writers:
        finish(writer)
    stop.touch()
    compactions = int(finish(compactor))
    seen = json.loads(finish(reader))
    print(f"compactor ran {compactions} times; the reader read {seen['reads']} times")
    assert seen["problems"] == []
    assert seen["last"] == expected

    final = FileProtocol(f"file://{path}")
    for name in names:
        assert steps(final, own[name].uid, "a") == list(range(total))
        assert steps(final, shared.uid, name) == list(range(total))
    final.commit(compact=True)
    final.close()
    state = json.loads(path.read_text())
    for name in names:
        doc = state["trials"][own[name].uid]
        assert [p[0] for p in doc["metrics"]["a"]] == list(range(total))
        assert doc["parameters"]["p24"] == 24
    assert state["writers"] == {name: [[1, 2 * batches]] for name in names}


def test_a_journal_left_by_a_deleted_document_is_replaced_with_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting the document but not its journal starts a fresh store (with a warning), instead
    of replaying batches for trials the new document does not hold."""
    trial = new_trial(path)
    store = FileProtocol(f"file://{path}")
    store.log_trial_batch(trial, batch(1, 0, 3))
    path.unlink()  # the user starts over, forgetting the journal beside it
    fresh = FileProtocol(f"file://{path}")
    other = Trial(name="other", parameters={"name": "other"})
    with caplog.at_level(logging.WARNING, logger="track.persistence.local"):
        assert fresh.new_trial(other) is not None
    assert "starting a new, empty journal" in caplog.text
    assert fresh.log_trial_batch(other, batch(1, 0, 2)) is True
    fresh.close()
    reader = FileProtocol(f"file://{path}")
    assert [t.name for t in reader.fetch_trials(None)] == ["other"]
    assert steps(reader, other.uid, "a") == [0, 1]
    reader.close()


def test_saving_to_its_own_file_folds_the_journal_in(path: Path) -> None:
    """commit(file_name_override=<its own path>) compacts instead of dropping the journal mark."""
    trial = new_trial(path)
    store = FileProtocol(f"file://{path}")
    store.log_trial_batch(trial, batch(1, 0, 3))
    store.commit(file_name_override=str(path))
    [doc] = json.loads(path.read_text())["trials"].values()
    assert [p[0] for p in doc["metrics"]["a"]] == [0, 1, 2]
    reader = FileProtocol(f"file://{path}")
    assert steps(reader, trial.uid, "a") == [0, 1, 2], "nothing applied twice"
    reader.close()
    store.close()
