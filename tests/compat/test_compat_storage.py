"""``LocalStorage``/``load_database``: the file store as objects, journal included, written back safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from track import TrackClient
from track.persistence.local import ConcurrentWrite, FileProtocol
from track.persistence.storage import LocalStorage, load_database
from track.serialization import trial_to_doc
from track.structure import Project, Trial, TrialGroup


def logged_store(path: Path) -> str:
    """A file store with a project, a group and a trial whose last points are only journaled."""
    client = TrackClient(f"file://{path}", flush_interval=0.05)
    client.set_project(name="paper")
    client.set_group(name="idea")
    trial = client.new_trial(name="final", parameters={"lr": 0.1})
    with trial:
        for step in range(5):
            trial.log_metrics(step=step, loss=1.0 / (step + 1))
    client.pipeline.flush()
    uid = trial.uid
    # no close(): the store is not compacted, the newest batches are in the journal only
    client.pipeline.close()
    return uid


def test_load_database_reads_what_the_file_store_reads_journal_included(tmp_path: Path) -> None:
    """Objects, uid sets and name indexes hold what FileProtocol returns, journaled points too."""
    path = tmp_path / "run.json"
    uid = logged_store(path)
    with open(path, encoding="utf-8") as file:
        assert json.load(file)["trials"][uid]["metrics"] == {}  # the points are journaled only
    storage = load_database(str(path))
    store = FileProtocol(f"file://{path}")
    [stored] = store.fetch_trials(None)
    trial = storage.objects[uid]
    assert trial_to_doc(trial) == trial_to_doc(stored)
    assert [p[:2] for p in trial.metrics["loss"]] == [[s, 1.0 / (s + 1)] for s in range(5)]
    assert storage.trials == {uid} and storage.trial_names == {"final": uid}
    assert storage.project_names == {"paper": "paper"} and storage.projects == {"paper"}
    [group] = store.fetch_groups(None)
    assert storage.group_names == {"idea": group.uid} and storage.groups == {group.uid}
    assert storage.target_file == str(path)
    store.close()
    storage.close()


def test_commit_writes_changes_once_without_replaying_the_journal(tmp_path: Path) -> None:
    """A committed edit is what the file store then reads, with no journaled point doubled."""
    path = tmp_path / "run.json"
    uid = logged_store(path)
    with load_database(str(path)) as storage:
        storage.objects[uid].metadata["note"] = "checked"
        storage.add(Project(name="other"))
        storage.commit()
    store = FileProtocol(f"file://{path}")
    [trial] = store.fetch_trials(None)
    assert trial.metadata["note"] == "checked"
    assert len(trial.metrics["loss"]) == 5
    assert store.get_project(Project(name="other")) is not None
    store.close()
    with open(path, encoding="utf-8") as file:  # the plain JSON holds it all too
        assert len(json.load(file)["trials"][uid]["metrics"]["loss"]) == 5


def test_commit_refuses_to_overwrite_a_change_made_since_loading(tmp_path: Path) -> None:
    """If the store changed an edited trial after the load, commit raises and reloads."""
    path = tmp_path / "run.json"
    uid = logged_store(path)
    storage = load_database(str(path))
    trial = storage.objects[uid]
    trial.metadata["mine"] = 1
    other = FileProtocol(f"file://{path}")
    other.log_trial_metrics(Trial(_hash=trial.hash), step=5, loss=0.1)
    other.close()
    with pytest.raises(ConcurrentWrite, match="reload"):
        storage.commit()
    assert "mine" not in trial.metadata and len(trial.metrics["loss"]) == 6
    trial.metadata["mine"] = 1
    storage.commit()
    storage.close()
    store = FileProtocol(f"file://{path}")
    [stored] = store.fetch_trials(None)
    assert stored.metadata["mine"] == 1 and len(stored.metrics["loss"]) == 6
    store.close()


def test_a_change_to_another_object_does_not_conflict(tmp_path: Path) -> None:
    """Only the objects this commit writes are checked: others may change meanwhile."""
    path = tmp_path / "run.json"
    uid = logged_store(path)
    storage = load_database(str(path))
    storage.objects["paper"].metadata["owner"] = "me"
    other = FileProtocol(f"file://{path}")
    other.log_trial_metrics(Trial(_hash=uid.rsplit("_", 1)[0]), step=5, loss=0.1)
    other.close()
    storage.commit()
    assert len(storage.objects[uid].metrics["loss"]) == 6  # the view was reloaded
    storage.close()


def test_smart_reload_keeps_identity_and_reload_starts_over(tmp_path: Path) -> None:
    """smart_reload updates loaded objects in place and keeps new ones; reload drops edits."""
    path = tmp_path / "run.json"
    uid = logged_store(path)
    storage = load_database(str(path))
    trial = storage.objects[uid]
    trial.metadata["draft"] = True
    fresh_group = TrialGroup(name="new", project_id="paper")
    storage.add(fresh_group)
    storage.smart_reload()
    assert storage.objects[uid] is trial and "draft" not in trial.metadata
    assert storage.objects[fresh_group.uid] is fresh_group
    storage.reload()
    assert storage.objects[uid] is not trial and fresh_group.uid not in storage.objects
    storage.close()


def test_version_tags_tell_an_edited_object(tmp_path: Path) -> None:
    """The current tag equals the previous one until the object is edited; new: no previous."""
    path = tmp_path / "run.json"
    uid = logged_store(path)
    storage = load_database(str(path))
    trial = storage.objects[uid]
    assert storage.get_current_version_tag(trial) == storage.get_previous_version_tag(trial)
    trial.metadata["x"] = 1
    assert storage.get_current_version_tag(trial) != storage.get_previous_version_tag(trial)
    assert storage.get_previous_version_tag(Project(name="unsaved")) is None
    storage.close()


def test_commit_to_another_file_and_remove_from_the_view_only(tmp_path: Path) -> None:
    """file_name_override copies the view into another store; remove() forgets in the view."""
    path, copy = tmp_path / "run.json", tmp_path / "copy.json"
    uid = logged_store(path)
    storage = load_database(str(path))
    storage.commit(file_name_override=str(copy))
    copied = load_database(f"file://{copy}")
    assert trial_to_doc(copied.objects[uid]) == trial_to_doc(storage.objects[uid])
    storage.remove(storage.objects[uid])
    assert uid not in storage.objects and storage.trial_names == {}
    storage.commit()
    storage.reload()
    assert uid in storage.objects  # never deleted from the store
    for view in (storage, copied):
        view.close()


def test_a_storage_without_a_file_says_so() -> None:
    """reload() of a LocalStorage with no target_file is refused with a clear message."""
    with pytest.raises(ValueError, match="no target_file"):
        LocalStorage().reload()
