"""socket://: every Protocol method through a real server, on each security layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.trackserver import make_tls, running_server, wait_for
from track.client import TrackClient
from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.persistence.socketed import AuthenticationFailed, ServerRefused, SocketClient
from track.server.crypto import HandshakeError
from track.structure import Project, Status, Trial, TrialGroup


@pytest.fixture(params=["AES", "TLS", None], ids=["aes", "tls", "plain"])
def server_uri(request: pytest.FixtureRequest, tmp_path: Path):
    """A server forwarding to file:// with one security layer, and a client URI for it."""
    extra: tuple[str, ...] = ()
    query = {}
    if request.param == "TLS":
        cert, key = make_tls(tmp_path)
        extra = ("--tls-cert", str(cert), "--tls-key", str(key))
        query = {"ca": str(cert)}
    store = f"file://{tmp_path / 'server-store.json'}"
    with running_server(tmp_path, store, layer=request.param, extra=extra) as server:
        yield server.uri(**query)


def test_every_protocol_method_round_trips(server_uri: str) -> None:
    """Each Protocol method gives through the server what the store itself gives."""
    store = get_protocol(server_uri)
    project = Project(name="p")
    assert store.new_project(project) is project
    assert store.new_project(Project(name="p")) is None
    assert store.get_project(project).name == "p"
    group = TrialGroup(name="g", project_id="p")
    store.new_trial_group(group)
    assert store.get_trial_group(group).name == "g"
    trial = Trial(name="t", parameters={"lr": 0.1}, project_id="p")
    assert store.new_trial(trial).revision == 0
    again = Trial(name="t", parameters={"lr": 0.1}, project_id="p")
    assert store.new_trial(again, auto_increment=True).revision == 1
    store.add_project_trial(project, trial)
    store.add_group_trial(group, trial)
    store.set_group_metadata(group, owner="me")
    store.log_trial_arguments(trial, batch_size=32)
    store.log_trial_batch(trial, TrialBatch(writer="w", seq=1, metrics=[("loss", 0, 1.5, 0.0)]))
    store.log_trial_batch(trial, TrialBatch(writer="w", seq=1, metrics=[("loss", 0, 1.5, 0.0)]))
    store.log_trial_metrics(trial, step=1, loss=0.5)
    store.add_trial_tags(trial, best=True)
    store.set_trial_status(trial, Status.Running)
    stored = store.get_trial(trial)[0]
    assert stored.parameters == {"lr": 0.1, "batch_size": 32}
    assert [p[:2] for p in stored.metrics["loss"]] == [[0, 1.5], [1, 0.5]]
    assert stored.tags == {"best": True} and stored.status == Status.Running
    assert [p[1] for p in store.get_trial_metrics(trial, ["loss"])["loss"]] == [1.5, 0.5]
    short = store.fetch_trials({"parameters.lr": 0.1, "revision": 0}, with_metrics=False)
    assert [t.uid for t in short] == [trial.uid] and len(short[0].metrics["loss"]) == 1
    assert [g.name for g in store.fetch_groups({"name": "g"})] == ["g"]
    assert store.get_trial_group(group).metadata == {"owner": "me"}
    assert [p.name for p in store.fetch_projects(None)] == ["p"]
    updated = store.fetch_and_update_trial({"revision": 1}, "set_trial_status", Status.Broken)
    assert updated.status == Status.Broken
    found = store.fetch_and_update_group({"name": "g"}, "set_group_metadata", stage=2)
    assert found.metadata == {"owner": "me", "stage": 2}
    store.commit()
    store.close()


def test_errors_keep_their_built_in_types(server_uri: str) -> None:
    """A store's KeyError/ValueError reaches the caller as that type; the connection survives."""
    store = get_protocol(server_uri)
    with pytest.raises(KeyError, match="no trial"):
        store.log_trial_batch(Trial(_hash="nope"), TrialBatch(metrics=[("x", 0, 1.0, 0.0)]))
    with pytest.raises(ValueError, match="not an update method"):
        store.fetch_and_update_trial({}, "__class__")
    with pytest.raises(ValueError):
        store.fetch_trials({"status": {"$nosuch": 1}})
    assert store.fetch_projects(None) == []


def test_track_client_logs_through_the_server(server_uri: str) -> None:
    """TrackClient over socket:// stores a trial's metrics, status and parameters."""
    client = TrackClient(server_uri, flush_interval=0.05)
    client.set_project(name="demo")
    with client.new_trial(parameters={"seed": 1}) as logger:
        for step in range(200):
            logger.log_metrics(step=step, loss=1 / (step + 1))
    client.save()
    trial = client.protocol.fetch_trials({"project_id": "demo"})[0]
    assert len(trial.metrics["loss"]) == 200 and trial.status == Status.Completed
    client.close()


def test_credentials_are_checked(tmp_path: Path) -> None:
    """Wrong and missing passwords are refused with a clear error and a server log line."""
    with running_server(tmp_path, f"file://{tmp_path / 's.json'}") as server:
        with pytest.raises(AuthenticationFailed, match="wrong user name or password"):
            SocketClient(server.uri(password="bad"))
        with pytest.raises(AuthenticationFailed):
            SocketClient(server.uri(password=None))
        wait_for(lambda: server.log().count("login failed") >= 2, 10, "two refusals logged")
        assert "(no password)" in server.log()
        SocketClient(server.uri()).close()


def test_layer_mismatch_and_pinned_key(tmp_path: Path) -> None:
    """A client asking for another layer is refused; a wrong pinned fingerprint is refused."""
    with running_server(tmp_path, f"file://{tmp_path / 's.json'}") as server:
        with pytest.raises(ServerRefused, match="requires security layer AES"):
            SocketClient(server.uri(security_layer="none"))
        with pytest.raises(HandshakeError, match="does not match the pinned"):
            SocketClient(server.uri(server_key="00" * 32))
        from track.server.crypto import identity_fingerprint, load_identity

        pin = identity_fingerprint(load_identity(str(server.key_file)))
        SocketClient(server.uri(server_key=pin)).close()


def test_unreachable_server_spills_then_replay_delivers(tmp_path: Path) -> None:
    """With the server gone, a batch is spilled with a clear message; track replay delivers it."""
    store = f"file://{tmp_path / 's.json'}"
    with running_server(tmp_path, store) as server:
        client = SocketClient(server.uri(timeout="1", spill_dir=str(tmp_path)))
        trial = client.new_trial(Trial(name="t"))
        server.kill()
        client.log_trial_batch(trial, TrialBatch(writer="w", seq=1, metrics=[("x", 0, 7.0, 0.0)]))
        assert client.spill_file is not None and Path(client.spill_file).exists()
        assert Path(client.spill_file).stat().st_mode & 0o777 == 0o600, "readable by others"
        server.start()
        command = [sys.executable, "-m", "track.cli", "replay", client.spill_file]
        done = subprocess.run([*command, "--store", server.uri()], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        reader = SocketClient(server.uri())
        assert reader.get_trial(trial)[0].metrics["x"][0][1] == 7.0
