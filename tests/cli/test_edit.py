"""``track rm``, ``rename``, ``tag`` and ``note``, run as real subprocesses on real stores."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from clirunner import TRACK, track

from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.reading import short_uid
from track.structure import Trial


def filled(uri: str) -> list[Trial]:
    """Three trials with a few points each, written to ``uri``."""
    store = get_protocol(uri)
    trials = [
        Trial(name=name, parameters={"lr": lr}, tags={"drop": 1})
        for name, lr in (("a", 0.1), ("b", 0.2), ("c", 0.3))
    ]
    for trial in trials:
        store.new_trial(trial)
        store.log_trial_batch(
            trial, TrialBatch(metrics=[("loss", s, 1.0 / (s + 1), 0.0) for s in range(3)])
        )
    store.close()
    return trials


def names(uri: str) -> list[str]:
    """The names of the trials ``uri`` holds, read through a fresh store object."""
    store = get_protocol(uri)
    try:
        return sorted(str(t.name) for t in store.fetch_trials(None))
    finally:
        store.close()


def test_rm_piped_refuses_without_yes_and_deletes_with_it(tmp_path: Path) -> None:
    """Piped, rm deletes nothing without --yes (and says how); with it, only the named trials."""
    uri = f"file://{tmp_path / 'store.json'}"
    a, b, c = filled(uri)
    refused = track("rm", "--store", uri, short_uid(a.uid))
    assert refused.code == 2 and "--yes" in refused.err
    assert names(uri) == ["a", "b", "c"]
    done = track("rm", "--store", uri, "--yes", short_uid(a.uid), b.uid[:10])
    assert done.code == 0, done.err
    assert "deleted 2 trial(s)" in done.out
    assert names(uri) == ["c"]
    store = get_protocol(uri)
    assert store.get_trial_metrics(a) == {}
    assert len(store.get_trial_metrics(c)["loss"]) == 3
    store.close()
    missing = track("rm", "--store", uri, "--yes", "ffffffff")
    assert missing.code == 2 and "no trial" in missing.err


def test_rm_on_a_terminal_asks_first(tmp_path: Path) -> None:
    """On a terminal rm lists the trials and deletes only after a yes."""
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    a, _, _ = filled(uri)
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [TRACK, "rm", "--store", uri, short_uid(a.uid)], stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 30
    while b"[y/N]" not in seen and time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            seen += os.read(master, 4096)
    assert b"[y/N]" in seen, seen
    os.write(master, b"y\n")
    assert process.wait(timeout=30) == 0
    os.close(master)
    assert names(uri) == ["b", "c"]


def test_rename_note_and_tag_keep_the_uid(tmp_path: Path) -> None:
    """rename and note set metadata; tag adds (+label, key=value) and removes (-label)."""
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    a, _, _ = filled(uri)
    prefix = short_uid(a.uid)
    assert track("rename", "--store", uri, prefix, "baseline").code == 0
    assert track("note", "--store", uri, prefix, "diverged after step 2").code == 0
    tagged = track("tag", "--store", uri, prefix, "+best", "-drop", "lr_schedule=cosine", "k=3")
    assert tagged.code == 0, tagged.err
    assert '"best": null' in tagged.out
    bad = track("tag", "--store", uri, prefix, "oops")
    assert bad.code == 2 and "+label, -label or label=value" in bad.err
    store = get_protocol(uri)
    stored = store.get_trial(a)[0]
    store.close()
    assert (stored.uid, stored.name) == (a.uid, "a")
    assert stored.metadata["display_name"] == "baseline"
    assert stored.metadata["note"] == "diverged after step 2"
    assert stored.tags == {"best": None, "lr_schedule": "cosine", "k": 3}


def test_a_live_trial_renames_notes_and_untags_itself_and_ls_shows_the_new_name(
    tmp_path: Path,
) -> None:
    """TrialLogger.rename/note/remove_tags: applied after what was logged before them (a flush
    first), the uid unchanged; `track ls` and the summary show the display name."""
    from track import TrackClient

    uri = f"sqlite:///{tmp_path / 'live.db'}"
    client = TrackClient(uri)
    client.set_project(name="edit")
    trial = client.new_trial(name="mlp", parameters={"lr": 0.1}, tags=["draft", "keep"])
    uid = trial.uid
    trial.log_metadata(note="logged before the edit")
    trial.rename("mlp, wider")
    trial.note("the wider one")
    trial.remove_tags("draft", "never-set")
    client.close()

    store = get_protocol(uri)
    (stored,) = store.fetch_trials({"uid": uid})
    store.close()
    assert stored.name == "mlp" and stored.uid == uid
    assert stored.metadata["display_name"] == "mlp, wider"
    assert stored.metadata["note"] == "the wider one"
    assert set(stored.tags) == {"keep"}
    listed = track("ls", "--store", uri)
    assert listed.code == 0, listed.err
    assert listed.out.splitlines()[1].split("\t")[1] == "mlp, wider"


def test_rm_a_group_or_a_project_refuses_to_take_trials_unless_told(tmp_path: Path) -> None:
    """`track rm --group/--project`: refused (exit 2, nothing deleted) while it holds trials;
    with --with-trials the group's trials go and the other group's stay."""
    from track import TrackClient

    uri = f"sqlite:///{tmp_path / 'groups.db'}"
    client = TrackClient(uri)
    client.set_project(name="p")
    for group, lr in (("g1", 0.1), ("g1", 0.2), ("g2", 0.3)):
        client.set_group(name=group, force=True)
        with client.new_trial(force=True, parameters={"lr": lr}) as trial:
            trial.log_metric_dict({"loss": lr}, 0)
    client.close()

    refused = track("rm", "--store", uri, "--yes", "--group", "g1")
    assert refused.code == 2 and "trial" in refused.err, refused.err
    assert len(names(uri)) == 3
    done = track("rm", "--store", uri, "--yes", "--group", "g1", "--with-trials")
    assert done.code == 0, done.err
    assert "and 2 trial(s)" in done.out
    store = get_protocol(uri)
    try:
        left = store.fetch_trials(None)
        assert [t.parameters["lr"] for t in left] == [0.3]
        assert [g.name for g in store.fetch_groups(None)] == ["g2"]
    finally:
        store.close()
    project = track("rm", "--store", uri, "--yes", "--project", "p")
    assert project.code == 2 and len(names(uri)) == 1
    mixed = track("rm", "--store", uri, "--yes", "--group", "g2", "abc")
    assert mixed.code == 2 and "not both" in mixed.err
