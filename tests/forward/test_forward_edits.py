"""Edits made in track (rename, note, tag removal, deletion) reach the runs a forwarder made.

Real MLflow (its file store, or the REST endpoint of mlflow_rest.py) and real wandb offline
runs, read back with their own clients and with wandb_reader.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from optional import require
from track import TrackClient, Trial
from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.structure import Project


def _mlflow_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point MLflow at a file store in ``tmp_path``; its ``MlflowClient``."""
    require("mlflow", reason="needs mlflow-skinny (pip install track[mlflow])")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # skinny has no SQL store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file://{tmp_path / 'mlruns'}")
    return MlflowClient()


def _logged(client: TrackClient, name: str, **tags: Any) -> str:
    """Log a short trial ``name`` to its end through ``client``; its uid."""
    trial = client.new_trial(force=True, name=name, parameters={"lr": 0.01}, tags=tags)
    with trial:
        for step in range(3):
            trial.log_metrics(step=step, loss=1.0 / (step + 1))
    trial.flush()
    return trial.trial.uid


def _mlflow_run(mlflow: Any, uid: str) -> Any:
    """The one MLflow run tagged with track uid ``uid`` (deleted runs included)."""
    from mlflow.entities import ViewType

    experiments = [e.experiment_id for e in mlflow.search_experiments()]
    [run] = mlflow.search_runs(
        experiments, f"tags.`track.uid` = '{uid}'", run_view_type=ViewType.ALL
    )
    return run


def _stored(uri: str, uid: str) -> Trial | None:
    """Trial ``uid`` as the track store at ``uri`` holds it now (None: not there)."""
    found = get_protocol(uri).fetch_trials({"uid": uid}, with_metrics=False)
    return found[0] if found else None


def test_mlflow_rename_note_untag_and_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each edit lands on the run; a deleted trial's run is tagged and kept (the default)."""
    mlflow = _mlflow_file_store(tmp_path, monkeypatch)
    from track.forward.mlflow import MLflowForwarder

    uri = f"file://{tmp_path / 'store.json'}"
    client = TrackClient(uri, forward=[MLflowForwarder()], flush_interval=0.05)
    client.set_project(name="fwd")
    keep = _logged(client, "keep", a=1, b=2)
    gone = _logged(client, "gone")
    store = client.protocol
    store.set_trial_display(keep, name="best", note="winner of the lr sweep")
    store.remove_trial_tags(keep, ["a"])
    store.delete_trials([gone])
    run = _mlflow_run(mlflow, keep)
    assert run.info.run_name == "best" and run.data.tags["mlflow.runName"] == "best"
    assert run.data.tags["mlflow.note.content"] == "winner of the lr sweep"
    assert "track.tag.a" not in run.data.tags and run.data.tags["track.tag.b"] == "2"
    deleted = _mlflow_run(mlflow, gone)
    assert deleted.info.lifecycle_stage == "active"
    assert deleted.data.tags["track.deleted"] == "true"
    assert deleted.info.status == "FINISHED"

    store.set_trial_display(keep, name="", note="")  # removed: the run gets its first name back
    run = _mlflow_run(mlflow, keep)
    assert run.info.run_name == "keep" and "mlflow.note.content" not in run.data.tags
    client.close()
    assert _stored(uri, gone) is None
    assert "display_name" not in (_stored(uri, keep) or Trial()).metadata

    # another process's forwarder never made this run: the edit stays in track
    later = TrackClient(uri, forward=[MLflowForwarder()], flush_interval=0.05)
    later.protocol.set_trial_display(keep, name="renamed later")
    later.close()
    assert _mlflow_run(mlflow, keep).info.run_name == "keep"
    assert (_stored(uri, keep) or Trial()).metadata["display_name"] == "renamed later"


def test_mlflow_delete_runs_is_opt_in_and_soft(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``delete_runs=True`` deleting a group with its trials deletes their runs (restorable)."""
    mlflow = _mlflow_file_store(tmp_path, monkeypatch)
    from track.forward.mlflow import MLflowForwarder

    uri = f"file://{tmp_path / 'store.json'}"
    client = TrackClient(uri, forward=[MLflowForwarder(delete_runs=True)], flush_interval=0.05)
    client.set_project(name="fwd")
    outside = _logged(client, "outside")
    group = client.set_group(name="sweep")
    assert group is not None
    members = [_logged(client, f"member-{n}") for n in range(2)]
    assert client.protocol.delete_group(group.uid, trials=True) == 2
    runs = {uid: _mlflow_run(mlflow, uid) for uid in [outside, *members]}
    assert [runs[uid].info.lifecycle_stage for uid in members] == ["deleted", "deleted"]
    assert runs[outside].info.lifecycle_stage == "active"
    assert "track.deleted" not in runs[members[0]].data.tags
    mlflow.restore_run(runs[members[0]].info.run_id)  # MLflow's delete is soft
    assert _mlflow_run(mlflow, members[0]).info.lifecycle_stage == "active"
    client.close()
    assert [_stored(uri, uid) for uid in members] == [None, None]


def test_deleting_the_followed_trial_ends_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A trial deleted while its run is open: the run is ended (KILLED), then tagged; close is quiet."""
    mlflow = _mlflow_file_store(tmp_path, monkeypatch)
    from track.forward import ForwardingProtocol
    from track.forward.mlflow import MLflowForwarder

    caplog.set_level(logging.WARNING, logger="track.forward")
    forwarder = MLflowForwarder()
    store = ForwardingProtocol(get_protocol(f"file://{tmp_path / 'store.json'}"), [forwarder])
    project = Project(name="fwd")
    store.new_project(project)
    trial = Trial(name="live", project_id=project.uid, parameters={"lr": 0.01})
    store.new_trial(trial)
    store.log_trial_batch(trial, TrialBatch(metrics=[("loss", 0, 1.0, time.time())]))
    assert _mlflow_run(mlflow, trial.uid).info.status == "RUNNING"
    assert store.delete_trials([trial.uid]) == 1
    run = _mlflow_run(mlflow, trial.uid)
    assert run.info.status == "KILLED" and run.data.tags["track.deleted"] == "true"
    assert forwarder.current is None and trial.uid not in forwarder.forwarded
    store.close()
    assert forwarder.enabled and not caplog.records


def _last_run_record(folder: Path) -> dict[str, Any]:
    """Name, tags and notes of the offline run's last ``run`` record (each edit writes one)."""
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb_reader import records, run_file

    last: dict[str, Any] = {}
    for payload in records(run_file(folder)):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "run":
            run = record.run
            last = {"name": run.display_name, "tags": list(run.tags), "notes": run.notes}
    return last


def test_wandb_edits_live_run_and_says_when_it_cannot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Edits reach the offline run while it is live; on the finished run a warning says why not."""
    require("wandb", reason="needs wandb (pip install track[wandb])")
    from track.forward.wandb import WandbForwarder

    caplog.set_level(logging.INFO, logger="track.forward")
    uri = f"file://{tmp_path / 'store.json'}"
    forwarder = WandbForwarder(mode="offline", dir=tmp_path)
    client = TrackClient(uri, forward=[forwarder], flush_interval=0.05)
    client.set_project(name="fwd")
    trial = client.new_trial(name="run", parameters={"lr": 0.01}, tags={"a": 1, "b": "x"})
    uid = trial.trial.uid
    with trial:
        trial.log_metrics(step=0, loss=1.0)
        trial.flush()  # the run exists once the first batch was forwarded
        client.protocol.set_trial_display(uid, name="renamed", note="a note")
        client.protocol.remove_trial_tags(uid, ["a"])
    client.protocol.set_trial_display(uid, name="too late")
    client.protocol.delete_trials([uid])
    client.close()
    assert _last_run_record(tmp_path) == {"name": "renamed", "tags": ["b=x"], "notes": "a note"}
    assert forwarder.enabled and dict(forwarder.skipped) == {"display name and note: ItemError": 1}
    messages = [r.getMessage() for r in caplog.records]
    [refused] = [m for m in messages if "could not forward the display name and note" in m]
    assert "offline run(s)" in refused and "finished" in refused and "wandb sync" in refused
    assert sum("did not forward 1 items" in m for m in messages) == 1
    assert sum("does not forward a deletion" in m for m in messages) == 1
    assert not any("disabled" in m for m in messages)
    assert _stored(uri, uid) is None


def test_failing_mlflow_never_stops_the_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """MLflow's server gone: each edit still lands in track, warned; the third in a row disables
    the forwarder and the trial's errors say so."""
    require("mlflow", reason="needs mlflow-skinny (pip install track[mlflow])")
    from mlflow_rest import mlflow_endpoint

    from track.forward.mlflow import MLflowForwarder

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the endpoint serves a file store
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail at once
    caplog.set_level(logging.WARNING, logger="track.forward")
    uri = f"file://{tmp_path / 'store.json'}"
    with mlflow_endpoint(tmp_path) as endpoint:
        forwarder = MLflowForwarder(tracking_uri=endpoint.uri)
        client = TrackClient(uri, forward=[forwarder], flush_interval=0.05)
        client.set_project(name="fwd")
        uid = _logged(client, "run", a=1)
    store = client.protocol
    store.set_trial_display(uid, name="first")
    assert forwarder.enabled
    store.remove_trial_tags(uid, ["a"])
    store.set_trial_display(uid, name="second")
    assert forwarder.enabled  # two failures in a row on renames, one on tags
    store.set_trial_display(uid, note="third")
    assert not forwarder.enabled
    store.set_trial_display(uid, name="fourth")
    client.close()
    stored = _stored(uri, uid)
    assert stored is not None and stored.tags == {}
    assert stored.metadata["display_name"] == "fourth" and stored.metadata["note"] == "third"
    [error] = stored.errors
    assert "forwarder 'mlflow' disabled while trying to forward the display name and note" in error
    assert "3 failures in a row on display name and note" in error
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failed on the display name and note" in m for m in messages) == 1
    assert sum("failed on the tag removal" in m for m in messages) == 1
    assert sum("disabled while" in m for m in messages) == 1


def test_mlflow_refusing_an_edit_skips_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A run deleted in MLflow refuses renames: each is skipped (one warning), none disables."""
    mlflow = _mlflow_file_store(tmp_path, monkeypatch)
    from track.forward.mlflow import MLflowForwarder

    caplog.set_level(logging.WARNING, logger="track.forward")
    uri = f"file://{tmp_path / 'store.json'}"
    forwarder = MLflowForwarder()
    client = TrackClient(uri, forward=[forwarder], flush_interval=0.05)
    client.set_project(name="fwd")
    uid = _logged(client, "run")
    mlflow.delete_run(_mlflow_run(mlflow, uid).info.run_id)
    for n in range(4):
        client.protocol.set_trial_display(uid, name=f"name-{n}")
    client.close()
    assert forwarder.enabled and dict(forwarder.skipped) == {"display name and note: ItemError": 4}
    messages = [r.getMessage() for r in caplog.records]
    [refused] = [m for m in messages if "could not forward the display name and note" in m]
    assert "MLflow refused the edit" in refused and "'active'" in refused
    assert sum("did not forward 4 items" in m for m in messages) == 1
    assert _mlflow_run(mlflow, uid).info.run_name == "run"
    assert (_stored(uri, uid) or Trial()).metadata["display_name"] == "name-3"
