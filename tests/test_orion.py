"""Orion: a trial run by ``orion hunt`` is tracked in the experiment's group, one per Orion trial."""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from optional import unavailable
from track import TrackClient
from track.client import OrionContext
from track.persistence import get_protocol
from track.structure import Trial, TrialGroup

HERE = Path(__file__).resolve().parent

#: what a worker of Orion 0.2.7 sets for the script it runs (its trial id is an md5, no track uid)
ORION_ENVIRONMENT = {
    "ORION_EXPERIMENT_NAME": "lr-search",
    "ORION_EXPERIMENT_ID": "1",
    "ORION_EXPERIMENT_VERSION": "2",
    "ORION_TRIAL_ID": "e05f2f7a1b6c4d3e8f9a0b1c2d3e4f5a",
    "ORION_WORKING_DIR": "/tmp/orion/e05f2f7a",
    "ORION_RESULTS_PATH": "/tmp/orion/results_x.log",
}


def set_environment(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    """Set the ORION_* variables an Orion worker would set."""
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def trials_of(uri: str, query: dict[str, Any] | None = None) -> list[Trial]:
    """The trials of a store matching ``query``, read by a fresh protocol object."""
    store = get_protocol(uri)
    try:
        return store.fetch_trials(query or {})
    finally:
        store.close()


def group_of(uri: str, name: str, project: str) -> TrialGroup | None:
    """The stored group ``name`` of ``project``, read by a fresh protocol object."""
    store = get_protocol(uri)
    try:
        return store.get_trial_group(TrialGroup(name=name, project_id=project))
    finally:
        store.close()


def run_orion_script(uri: str, lr: float, loss: float) -> str:
    """What a tracked Orion trial script does: project, group, trial, a metric; its uid."""
    client = TrackClient(uri)
    client.set_project(name="hpo")
    client.set_group(name="the-script-group")
    trial = client.new_trial(name="train")
    trial.log_arguments(lr=lr)
    with trial:
        trial.log_metrics(loss=loss)
    client.close()
    return trial.uid


def test_orion_context_reads_both_generations_of_variables() -> None:
    """Orion 0.2's variables and the older ORION_PROJECT/ORION_EXPERIMENT both parse; none is None."""
    assert OrionContext.from_environment({}) is None
    assert OrionContext.from_environment({"ORION_EXPERIMENT_NAME": ""}) is None
    current = OrionContext.from_environment(ORION_ENVIRONMENT)
    assert current == OrionContext(
        trial_id="e05f2f7a1b6c4d3e8f9a0b1c2d3e4f5a",
        experiment="lr-search",
        experiment_id="1",
        experiment_version=2,
        working_dir="/tmp/orion/e05f2f7a",
    )
    older = {"ORION_PROJECT": "p", "ORION_EXPERIMENT": "e", "ORION_TRIAL_ID": "abc"}
    assert OrionContext.from_environment(older) == OrionContext(
        trial_id="abc", experiment="e", project="p"
    )


def test_orion_trial_is_created_then_resumed(
    store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same ORION_TRIAL_ID twice (a resumed Orion trial) attaches to the one track trial."""
    set_environment(monkeypatch, ORION_ENVIRONMENT)
    client = TrackClient(store_uri)  # an md5 ORION_TRIAL_ID made the seed raise here
    client.set_project(name="hpo")
    group = client.set_group(name="the-script-group")
    assert group is not None and group.name == "lr-search"
    first = client.new_trial(name="train", parameters={"lr": 0.1})
    first.log_metrics(step=0, loss=1.0)
    first.flush()
    uid = first.uid
    assert first.trial.metadata["orion_trial_id"] == ORION_ENVIRONMENT["ORION_TRIAL_ID"]
    if store_uri == "ephemeral:":  # one process, one store object: resume through it
        client.pipeline.close()
        again = TrackClient(client.protocol)
    else:
        client.close()
        again = TrackClient(store_uri)
    again.set_project(name="hpo")
    resumed = again.new_trial(name="train", parameters={"lr": 0.1})
    assert resumed.uid == uid
    resumed.log_metrics(step=1, loss=0.5)
    resumed.flush()
    [stored] = again.protocol.fetch_trials({})
    assert stored.uid == uid
    assert [point[:2] for point in stored.metrics["loss"]] == [[0, 1.0], [1, 0.5]]
    assert stored.metadata["orion_trial_id"] == ORION_ENVIRONMENT["ORION_TRIAL_ID"]
    assert stored.metadata["orion_experiment_version"] == 2
    assert stored.metadata["orion_working_dir"] == "/tmp/orion/e05f2f7a"
    assert stored.group_id == group.uid
    stored_group = again.protocol.get_trial_group(TrialGroup(name="lr-search", project_id="hpo"))
    assert stored_group is not None
    assert stored_group.metadata == {"orion_experiment_id": "1", "orion_experiment_version": 2}
    assert stored_group.trials == {uid}
    again.close()


def test_each_orion_trial_gets_its_own_track_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two Orion trials with the same parameters are two track trials, each found by its id."""
    uri = "sqlite:///store.db"
    set_environment(monkeypatch, ORION_ENVIRONMENT)
    first = run_orion_script(uri, lr=0.1, loss=1.0)
    monkeypatch.setenv("ORION_TRIAL_ID", "0123456789abcdef0123456789abcdef")
    second = run_orion_script(uri, lr=0.1, loss=2.0)
    assert first != second
    [one] = trials_of(uri, {"metadata.orion_trial_id": ORION_ENVIRONMENT["ORION_TRIAL_ID"]})
    [two] = trials_of(uri, {"metadata.orion_trial_id": "0123456789abcdef0123456789abcdef"})
    assert (one.uid, two.uid) == (first, second)
    assert [p[1] for p in one.metrics["loss"]] == [1.0]
    assert [p[1] for p in two.metrics["loss"]] == [2.0]
    group = group_of(uri, "lr-search", "hpo")
    assert group is not None and group.trials == {first, second}


def test_resumed_orion_trial_accepts_its_own_parameters_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resumed Orion trial logging the same arguments again is no error; one trial is kept."""
    uri = "sqlite:///store.db"
    set_environment(monkeypatch, ORION_ENVIRONMENT)
    first = run_orion_script(uri, lr=0.1, loss=1.0)
    second = run_orion_script(uri, lr=0.1, loss=0.5)
    assert first == second
    [stored] = trials_of(uri)
    assert [p[1] for p in stored.metrics["loss"]] == [1.0, 0.5]


def test_resumed_orion_trial_with_other_parameters_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Resuming an Orion trial with parameters unlike the stored ones says so and keeps the stored."""
    uri = "sqlite:///store.db"
    set_environment(monkeypatch, ORION_ENVIRONMENT)
    uid = run_orion_script(uri, lr=0.1, loss=1.0)
    client = TrackClient(uri)
    with caplog.at_level(logging.WARNING, logger="track.client"):
        resumed = client.new_trial(parameters={"lr": 0.3})
    assert resumed.uid == uid
    assert "stored with parameters {'lr': 0.1}" in caplog.text
    assert "{'lr': 0.3}" in caplog.text
    with pytest.raises(RuntimeError, match="cannot change"):
        resumed.log_arguments(lr=0.3)
    client.close()
    [stored] = trials_of(uri)
    assert stored.parameters == {"lr": 0.1}


def test_forced_new_trial_is_not_the_orion_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    """new_trial(force=True) under Orion starts a plain trial in the experiment's group."""
    uri = "sqlite:///store.db"
    set_environment(monkeypatch, ORION_ENVIRONMENT)
    client = TrackClient(uri)
    orion_trial = client.new_trial(parameters={"lr": 0.1})
    other = client.new_trial(force=True, parameters={"lr": 0.2})
    client.close()
    assert other.uid != orion_trial.uid
    assert "orion_trial_id" not in other.trial.metadata
    [found] = trials_of(uri, {"metadata.orion_trial_id": ORION_ENVIRONMENT["ORION_TRIAL_ID"]})
    assert found.uid == orion_trial.uid
    group = group_of(uri, "lr-search", "orphan")
    assert group is not None and group.trials == {orion_trial.uid, other.uid}


def test_two_track_trials_for_one_orion_trial_are_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """When two stored trials record the same Orion id, resuming names both and picks one."""
    uri = "sqlite:///store.db"
    orion_id = ORION_ENVIRONMENT["ORION_TRIAL_ID"]
    setup = TrackClient(uri)
    uids = {
        setup.new_trial(
            force=True, parameters={"lr": lr}, metadata={"orion_trial_id": orion_id}
        ).uid
        for lr in (0.1, 0.2)
    }
    setup.close()
    set_environment(monkeypatch, ORION_ENVIRONMENT)
    client = TrackClient(uri)
    with caplog.at_level(logging.WARNING, logger="track.client"):
        resumed = client.new_trial()
    client.close()
    assert resumed.uid == min(uids)
    assert f"2 track trials record Orion trial {orion_id}" in caplog.text
    assert all(uid in caplog.text for uid in uids)


def test_separate_ranks_each_resume_their_own_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ranks="separate", each rank of an Orion trial has its trial and resumes that one."""
    uri = "sqlite:///store.db"
    set_environment(monkeypatch, ORION_ENVIRONMENT)
    set_environment(monkeypatch, {"WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "job-1"})
    uids = {}
    for attempt in range(2):  # the Orion trial runs, then is resumed
        for rank in (0, 1):
            monkeypatch.setenv("RANK", str(rank))
            client = TrackClient(uri, ranks="separate")
            trial = client.new_trial(name="train", parameters={"lr": 0.1})
            trial.log_metrics(step=attempt, loss=float(attempt))
            client.close()
            assert uids.setdefault(rank, trial.uid) == trial.uid
    assert uids[0] != uids[1]
    tracked = trials_of(uri, {"metadata.orion_trial_id": ORION_ENVIRONMENT["ORION_TRIAL_ID"]})
    assert {t.uid: t.metadata["rank"] for t in tracked} == {uids[0]: 0, uids[1]: 1}
    assert all(len(t.metrics["loss"]) == 2 for t in tracked)


def test_older_orion_variables_choose_project_and_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """ORION_PROJECT and ORION_EXPERIMENT (older Orion) win over the script's project and group."""
    uri = "sqlite:///store.db"
    set_environment(
        monkeypatch,
        {"ORION_PROJECT": "orion-project", "ORION_EXPERIMENT": "old-exp", "ORION_TRIAL_ID": "42"},
    )
    uid = run_orion_script(uri, lr=0.1, loss=1.0)
    [stored] = trials_of(uri)
    assert stored.uid == uid
    assert stored.project_id == "orion-project"
    assert stored.metadata["orion_trial_id"] == "42"
    assert stored.metadata["orion_experiment"] == "old-exp"
    group = group_of(uri, "old-exp", "orion-project")
    assert group is not None and group.trials == {uid}
    store = get_protocol(uri)
    assert store.fetch_projects({"name": "hpo"}) == []
    store.close()


# ---- a real `orion hunt` ------------------------------------------------------------------


def orion_or_skip() -> None:
    """Import Orion's CLI and client; skip when they are missing, fail instead when CI=true."""
    try:
        for module in ("orion.client", "orion.core.cli"):  # the CLI needs pkg_resources
            importlib.import_module(module)
    except ImportError as error:
        message = (
            f"Orion is not usable ({error}); install it with "
            "pip install -e '.[orion]' (orion==0.2.7 typing_extensions 'setuptools<81')"
        )
        unavailable(message)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated", "ignore::DeprecationWarning")
def test_real_orion_hunt_tracks_every_trial(tmp_path: Path) -> None:
    """A real `orion hunt` of 3 trials completes them all, each one track trial found by its id."""
    orion_or_skip()
    from orion.client import get_experiment

    script = tmp_path / "train.py"  # outside any git repository: Orion sees no code change
    shutil.copy(HERE / "orion_hunt_script.py", script)
    storage = {"type": "legacy", "database": {"type": "pickleddb", "host": str(tmp_path / "o.pkl")}}
    config = tmp_path / "orion.yaml"
    config.write_text(json.dumps({"storage": storage}))  # JSON is YAML
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    hunt = [
        *(sys.executable, "-c", "import sys; from orion.core.cli import main; sys.exit(main())"),
        *("hunt", "-c", str(config), "-n", "exp", "--exp-max-trials", "3"),
        *(sys.executable, str(script), "--lr~loguniform(1e-3, 1)"),
    ]
    done = subprocess.run(
        hunt,
        cwd=tmp_path,
        env={**os.environ, "TRACK_URI": uri},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    orion_trials = get_experiment("exp", storage=storage).fetch_trials()
    assert len(orion_trials) == 3
    assert [t.status for t in orion_trials] == ["completed"] * 3, done.stderr[-3000:]
    tracked = trials_of(uri)
    assert len(tracked) == 3
    for orion_trial in orion_trials:
        [mine] = trials_of(uri, {"metadata.orion_trial_id": orion_trial.id})
        assert mine.parameters == {"lr": orion_trial.params["/lr"]}
        assert mine.status.name == "Completed"
        assert len(mine.metrics["loss"]) == 3
        assert mine.metadata["orion_experiment"] == "exp"
        [objective] = [r.value for r in orion_trial.results if r.type == "objective"]
        assert mine.metrics["loss"][-1][1] == objective
    group = group_of(uri, "exp", "orion-hunt")
    assert group is not None
    assert group.trials == {t.uid for t in tracked}
    assert group.metadata["orion_experiment_version"] == 1
