"""The behaviour every store shares, run against each kind in ``STORE_KINDS``."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from track import TrackClient
from track.client import TrialDoesNotExist
from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch
from track.structure import Project, Status, Trial, TrialGroup

SRC = str(Path(__file__).resolve().parents[2] / "src")
ODD_NAMES = ["it's", 'say "hi"', "a;b", "'); DROP TABLE trials; --", "λ-loss ✓", "%s %(x)s ?"]


@pytest.fixture
def store(store_uri: str) -> Iterator[Protocol]:
    """The store behind ``store_uri``, closed afterwards."""
    protocol = get_protocol(store_uri)
    yield protocol
    protocol.close()


@pytest.fixture
def client(store_uri: str) -> Iterator[TrackClient]:
    """A client on the fresh store, flushing fast."""
    client = TrackClient(store_uri, flush_interval=0.05)
    yield client
    client.close()


@contextmanager
def _client(store: Protocol) -> Iterator[TrackClient]:
    client = TrackClient(store, flush_interval=0.05)
    try:
        yield client
    finally:
        client.pipeline.close()


def make_trial(store: Protocol, name: str, status: Status | None = None, **parameters) -> Trial:
    """Insert a trial of project ``p`` directly through the protocol."""
    if store.get_project(Project(name="p")) is None:
        store.new_project(Project(name="p"))
    trial = Trial(name=name, parameters=parameters, project_id="p")
    if status is not None:
        trial.status = status
    stored = store.new_trial(trial, auto_increment=True)
    assert stored is not None
    return stored


def names(trials: list[Trial]) -> set[str]:
    """The names of a list of trials."""
    return {t.name for t in trials}


def test_client_creates_project_group_and_trial(client: TrackClient) -> None:
    """set_project/set_group/new_trial store a trial listed by its project and group."""
    project = client.set_project(name="paper")
    group = client.set_group(name="idea")
    trial = client.new_trial(name="final", parameters={"lr": 0.1})
    uid = trial.uid
    store = client.protocol
    assert uid in store.get_project(project).trials
    assert group.uid in store.get_project(project).groups
    assert uid in store.get_trial_group(group).trials
    stored = store.get_trial(trial.trial)[0]
    assert (stored.name, stored.parameters, stored.project_id) == ("final", {"lr": 0.1}, "paper")
    assert stored.group_id == group.uid


def test_identical_parameters_get_the_next_revision(store: Protocol) -> None:
    """A second trial with the same name and parameters is stored as revision 1."""
    first = make_trial(store, "same", lr=0.1)
    second = make_trial(store, "same", lr=0.1)
    assert (first.revision, second.revision) == (0, 1)
    assert first.hash == second.hash and first.uid != second.uid
    assert store.new_trial(Trial(name="same", parameters={"lr": 0.1})) is None


def test_set_trial_by_uid_and_by_hash_and_revision(store: Protocol) -> None:
    """set_trial finds a trial by uid or by (hash, revision), and raises for unknown ones."""
    with _client(store) as client:
        uid = client.new_trial(name="t", parameters={"x": 1}).uid
    with _client(store) as other:
        assert other.set_trial(uid=uid).trial.uid == uid
    with _client(store) as other:
        hash_, revision = uid.rsplit("_", 1)
        assert other.set_trial(hash=hash_, revision=int(revision)).trial.uid == uid
    with _client(store) as other, pytest.raises(TrialDoesNotExist):
        other.set_trial(uid=f"{hash_}_7")
    with _client(store) as other, pytest.raises(TrialDoesNotExist):
        other.set_trial(uid="not-a-uid")


@pytest.mark.parametrize("step", [None, 3, 2.5, "epoch-1"])
def test_metric_steps_keep_their_type(client: TrackClient, step) -> None:
    """Metrics logged with no step, an int, a float or a str step read back with that step."""
    trial = client.new_trial(name="steps", parameters={"s": repr(step)})
    trial.log_metrics(step=step, loss=0.5, acc=1)
    trial.log_metrics(step=step, loss=0.25)
    trial.flush()
    metrics = client.protocol.get_trial(trial.trial)[0].metrics
    assert [p[:2] for p in metrics["loss"]] == [[step, 0.5], [step, 0.25]]
    assert [type(p[0]) for p in metrics["loss"]] == [type(step), type(step)]
    assert metrics["acc"][0][1] == 1 and isinstance(metrics["acc"][0][2], float)


def test_metadata_tags_and_chronos(client: TrackClient) -> None:
    """Metadata, tags and chronos are merged (last value wins) and read back."""
    trial = client.new_trial(name="meta", parameters={"a": 1})
    trial.log_metadata(gpu="V100", nested={"k": [1, 2]})
    trial.log_metadata(gpu="A100")
    trial.add_tags(hpo="byopt", workers=8)
    with trial.chrono("batch"):
        pass
    trial.flush()
    stored = client.protocol.get_trial(trial.trial)[0]
    assert stored.metadata["gpu"] == "A100" and stored.metadata["nested"] == {"k": [1, 2]}
    assert stored.tags == {"hpo": "byopt", "workers": 8}
    assert stored.chronos["batch"]["count"] == 1


def test_status_changes_and_errors(store: Protocol) -> None:
    """set_trial_status changes the status and appends each error given."""
    trial = make_trial(store, "status")
    store.set_trial_status(trial, Status.Running)
    store.set_trial_status(trial, Status.Broken, error="disk full")
    store.set_trial_status(trial, Status.Exception, error="again")
    stored = store.get_trial(trial)[0]
    assert stored.status == Status.Exception
    assert stored.errors == ["disk full", "again"]


def test_with_trial_ends_completed(client: TrackClient) -> None:
    """Leaving ``with trial:`` normally ends Completed with start and end times."""
    trial = client.new_trial(name="ok", parameters={"a": 1})
    with trial:
        trial.log_metrics(step=0, loss=1.0)
    stored = client.protocol.get_trial(trial.trial)[0]
    assert stored.status == Status.Completed
    assert stored.metadata["end_time"] >= stored.metadata["start_time"]


def test_with_trial_exception_ends_exception_with_traceback(client: TrackClient) -> None:
    """An exception inside ``with trial:`` ends Exception with the traceback in errors."""
    trial = client.new_trial(name="boom", parameters={"a": 1})
    with pytest.raises(ZeroDivisionError), trial:
        1 / 0  # noqa: B018
    stored = client.protocol.get_trial(trial.trial)[0]
    assert stored.status == Status.Exception
    assert "Traceback" in stored.errors[-1] and "ZeroDivisionError" in stored.errors[-1]


QUERIES = [
    ({"parameters.opt": "sgd"}, {"a", "c"}),
    ({"parameters.opt": {"$eq": "adam"}}, {"b"}),
    ({"parameters.opt": {"$ne": "sgd"}}, {"b", "d"}),
    ({"parameters.lr": {"$gt": 0.05}}, {"a", "c"}),
    ({"parameters.lr": {"$gte": 0.1}}, {"a", "c"}),
    ({"parameters.lr": {"$lt": 0.1}}, {"b"}),
    ({"parameters.lr": {"$lte": 0.1}}, {"a", "b"}),
    ({"parameters.lr": "high"}, {"d"}),
    ({"parameters.opt": {"$in": ["adam", "sgd"]}}, {"a", "b", "c"}),
    ({"parameters.opt": {"$nin": ["sgd"]}}, {"b", "d"}),
    ({"parameters.layers.n": {"$exists": True}}, {"a", "b"}),
    ({"parameters.layers.n": {"$exists": False}}, {"c", "d"}),
    ({"parameters.layers.n": 3}, {"b"}),
    ({"parameters.layers": {"n": 2}}, {"a"}),
    ({"parameters.opt": {"$regex": "^s.d$"}}, {"a", "c"}),
    ({"$or": [{"parameters.opt": "adam"}, {"parameters.lr": 1.0}]}, {"b", "c"}),
    ({"$and": [{"parameters.opt": "sgd"}, {"parameters.lr": {"$lt": 0.5}}]}, {"a"}),
    ({"name": {"$in": ["a", "d"]}}, {"a", "d"}),
    ({"tags.hpo": "x"}, {"a"}),
    ({"status": "completed"}, {"a"}),
    ({"status": Status.Completed}, {"a"}),
    ({"status": 302}, {"a"}),
    ({"status": {"$in": ["Running", "exception"]}}, {"b", "c"}),
    ({"status": {"$ne": "completed"}}, {"b", "c", "d"}),
    ({"status": {"$gte": 200}}, {"a", "c"}),
    ({"status": {"$regex": "^Run"}}, {"b"}),
    ({"parameters.missing": {"$ne": 1}}, {"a", "b", "c", "d"}),
    (None, {"a", "b", "c", "d"}),
]


@pytest.fixture
def four_trials(store: Protocol) -> Protocol:
    """Trials a-d with various parameters, tags and statuses."""
    a = make_trial(store, "a", Status.Completed, lr=0.1, opt="sgd", layers={"n": 2})
    store.add_trial_tags(a, hpo="x")
    make_trial(store, "b", Status.Running, lr=0.01, opt="adam", layers={"n": 3})
    make_trial(store, "c", Status.Exception, lr=1.0, opt="sgd")
    make_trial(store, "d", lr="high")
    return store


def test_fetch_trials_with_every_operator(four_trials: Protocol) -> None:
    """Every operator of the query language selects the same trials in every store."""
    for query, expected in QUERIES:
        assert names(four_trials.fetch_trials(query)) == expected, query


def test_group_id_matches_any_of_several_groups(store: Protocol) -> None:
    """group_id selects a trial by any group it is in; $ne/$nin exclude by any."""
    store.new_project(Project(name="p"))
    g1, g2, g3 = (TrialGroup(name=n, project_id="p") for n in ("g1", "g2", "g3"))
    for group in (g1, g2, g3):
        store.new_trial_group(group)
    both = make_trial(store, "both")
    store.add_group_trial(g1, both)
    store.add_group_trial(g2, both)
    only3 = make_trial(store, "only3")
    store.add_group_trial(g3, only3)
    make_trial(store, "none")
    assert names(store.fetch_trials({"group_id": g2.uid})) == {"both"}
    assert names(store.fetch_trials({"group_id": {"$in": [g1.uid, g3.uid]}})) == {"both", "only3"}
    assert names(store.fetch_trials({"group_id": {"$ne": g1.uid}})) == {"only3", "none"}
    assert names(store.fetch_trials({"group_id": {"$exists": False}})) == {"none"}
    assert store.get_trial(both)[0].group_id == g1.uid
    assert store.get_trial(both)[0].groups == {g1.uid, g2.uid}
    assert both.uid in store.get_trial_group(g2).trials


def test_fetch_without_metrics_gives_last_points(store: Protocol) -> None:
    """with_metrics=False gives each metric's last point; get_trial_metrics the full series."""
    trial = make_trial(store, "m")
    points = [("loss", i, 1.0 / (i + 1), 100.0 + i) for i in range(50)]
    store.log_trial_batch(trial, TrialBatch(metrics=[*points, ("acc", None, 0.5, 1.0)]))
    store.log_trial_metrics(trial, step=50, loss=0.001)
    light = store.fetch_trials({"name": "m"}, with_metrics=False)[0]
    assert light.metrics["loss"][0][:2] == [50, 0.001] and len(light.metrics["loss"]) == 1
    assert light.metrics["acc"] == [[None, 0.5, 1.0]]
    full = store.get_trial_metrics(trial)
    assert len(full["loss"]) == 51 and full["loss"][:2] == [[0, 1.0, 100.0], [1, 0.5, 101.0]]
    assert store.get_trial_metrics(trial, ["acc"]) == {"acc": [[None, 0.5, 1.0]]}
    assert store.fetch_trials({"name": "m"})[0].metrics == full


def test_fetch_and_update_trial(store: Protocol) -> None:
    """fetch_and_update_trial updates one matching trial and refuses non-update methods."""
    make_trial(store, "new1")
    make_trial(store, "new2")
    reserved = store.fetch_and_update_trial(
        {"status": "CreatedGroup"}, "set_trial_status", Status.Running
    )
    assert reserved is not None and reserved.status == Status.Running
    assert len(store.fetch_trials({"status": "Running"})) == 1
    assert store.fetch_and_update_trial({"name": "zzz"}, "set_trial_status", Status.Running) is None
    with pytest.raises(ValueError, match="not an update method"):
        store.fetch_and_update_trial({}, "close")
    with pytest.raises(ValueError, match="not an update method"):
        store.fetch_and_update_trial({}, "__class__")


def test_fetch_and_update_group(store: Protocol) -> None:
    """fetch_and_update_group sets metadata on one matching group."""
    store.new_project(Project(name="p"))
    store.new_trial_group(TrialGroup(name="g", project_id="p"))
    group = store.fetch_and_update_group({"name": "g"}, "set_group_metadata", owner="me")
    assert group is not None and group.metadata == {"owner": "me"}
    assert store.fetch_groups({"metadata.owner": "me"})[0].name == "g"
    assert store.fetch_projects({"name": "p"})[0].groups == {group.uid}


def test_batch_applied_once_per_writer_and_seq(store: Protocol) -> None:
    """A batch applied twice with the same (writer, seq) is stored once."""
    trial = make_trial(store, "once")
    batch = TrialBatch(writer="w1", seq=1, metrics=[("loss", 0, 1.0, 1.0)], errors=["e"])
    store.log_trial_batch(trial, batch)
    store.log_trial_batch(trial, batch)
    store.log_trial_batch(trial, TrialBatch(writer="w1", seq=2, metrics=[("loss", 1, 2.0, 2.0)]))
    store.log_trial_batch(trial, TrialBatch(writer="w2", seq=1, metrics=[("loss", 2, 3.0, 3.0)]))
    stored = store.get_trial(trial)[0]
    assert [p[0] for p in stored.metrics["loss"]] == [0, 1, 2]
    assert stored.errors == ["e"]


def test_stale_running_trial_reads_interrupted(store: Protocol) -> None:
    """A Running trial whose heartbeat is old reads as Interrupted, in get and in queries."""
    stale = make_trial(store, "stale", Status.Running)
    store.log_trial_metadata(stale, heartbeat=time.time() - 100, heartbeat_interval=1.0)
    alive = make_trial(store, "alive", Status.Running)
    store.log_trial_metadata(alive, heartbeat=time.time(), heartbeat_interval=60.0)
    assert store.get_trial(stale)[0].status == Status.Interrupted
    assert store.get_trial(alive)[0].status == Status.Running
    assert names(store.fetch_trials({"status": "Interrupted"})) == {"stale"}
    assert names(store.fetch_trials({"status": Status.Running.value})) == {"alive"}
    picked = store.fetch_and_update_trial(
        {"status": "interrupted"}, "set_trial_status", Status.Completed
    )
    assert picked is not None and picked.name == "stale"


def test_odd_names_and_values_round_trip(store: Protocol) -> None:
    """Quotes, semicolons, unicode and SQL-shaped names and values are stored verbatim."""
    odd = {name: name for name in ODD_NAMES}
    trial = make_trial(store, ODD_NAMES[3], **odd)
    store.log_trial_metrics(trial, step=ODD_NAMES[0], **{name: 1.5 for name in ODD_NAMES})
    store.log_trial_metadata(trial, **odd)
    store.add_trial_tags(trial, **odd)
    store.set_trial_status(trial, Status.Broken, error=ODD_NAMES[3])
    stored = store.get_trial(trial)[0]
    assert stored.name == ODD_NAMES[3]
    assert stored.parameters == odd and stored.tags == odd
    assert {k: stored.metadata[k] for k in odd} == odd
    assert sorted(stored.metrics) == sorted(ODD_NAMES)
    assert stored.metrics[ODD_NAMES[4]][0][:2] == [ODD_NAMES[0], 1.5]
    assert stored.errors == [ODD_NAMES[3]]
    for name in ODD_NAMES:
        assert names(store.fetch_trials({f"parameters.{name}": name})) == {ODD_NAMES[3]}
        assert names(store.fetch_trials({"name": name})) == ({name} & {ODD_NAMES[3]})


WRITER = """
import sys
from track import TrackClient
uri, name = sys.argv[1], sys.argv[2]
client = TrackClient(uri, flush_interval=0.05)
trial = client.new_trial(name=name, parameters={"worker": name})
with trial:
    for step in range(300):
        trial.log_metrics(step=step, a=step, b=-step)
client.close()
"""


def test_processes_write_concurrently(shared_store_uri: str) -> None:
    """Four processes logging to one store at once: every point of every trial is there."""
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, shared_store_uri, f"w{i}"])
        for i in range(4)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    store = get_protocol(shared_store_uri)
    try:
        trials = store.fetch_trials(None)
        assert names(trials) == {f"w{i}" for i in range(4)}
        for trial in trials:
            assert [p[0] for p in trial.metrics["a"]] == list(range(300))
            assert trial.status == Status.Completed
    finally:
        store.close()
