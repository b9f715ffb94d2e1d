"""The client and trial logger: selection, arguments, configuration, values, files and reports."""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from track import Status, TrackClient, TrialDoesNotExist
from track.configuration import find_configuration, options, reset_configuration
from track.persistence import UnknownScheme, get_protocol
from track.persistence.multiplexer import ProtocolMultiplexer
from track.structure import Project, TrialGroup
from track.utils.stat import StatStream


@pytest.fixture
def client() -> Any:
    """A client on a fresh ``file://`` store, closed after the test."""
    client = TrackClient("file://store.json")
    yield client
    client.close()


def reread(uri: str = "file://store.json") -> list[Any]:
    """Every trial in the store, read by a fresh protocol object."""
    store = get_protocol(uri)
    try:
        return store.fetch_trials({})
    finally:
        store.close()


def test_set_project_and_group_create_then_reuse(client: TrackClient) -> None:
    """set_project/set_group create objects once; a second client finds the same ones."""
    project = client.set_project(name="p", description="d")
    group = client.set_group(name="g")
    assert project is not None and group is not None
    assert group.project_id == "p"
    assert client.set_project(name="other") is project

    other = TrackClient("file://store.json")
    assert other.set_project(name="p").description == "d"
    assert other.set_group(name="g").uid == group.uid
    assert other.set_group(name="missing", force=True, get_only=True) is None
    other.close()


def test_new_trial_without_project_goes_to_the_orphan_project(client: TrackClient) -> None:
    """A trial created before any set_project belongs to the stored ``orphan`` project."""
    trial = client.new_trial(parameters={"a": 1})
    assert trial.trial.project_id == "orphan"
    assert client.protocol.get_project(Project(name="orphan")).trials == {trial.uid}


def test_trial_is_created_once_its_parameters_are_known(client: TrackClient) -> None:
    """A trial without parameters reaches the store on its first call other than log_arguments."""
    trial = client.new_trial(name="lazy")
    trial.log_arguments(lr=0.1)
    assert reread() == []
    trial.log_arguments(epochs=3)
    trial.log_metrics(loss=1.0)
    trial.flush()
    [stored] = reread()
    assert stored.parameters == {"lr": 0.1, "epochs": 3}
    assert stored.uid == trial.uid
    with pytest.raises(RuntimeError, match="cannot change"):
        trial.log_arguments(lr=0.2)


def test_parameters_logged_too_late_name_the_way_on(client: TrackClient) -> None:
    """Changing a created trial's parameters raises, naming new_trial(force=True), which works."""
    first = client.new_trial(name="run-0")
    first.log_arguments(lr=0.1)
    first.log_metrics(loss=1.0)
    assert client.new_trial(name="run-1") is first  # an HPO loop's next iteration
    with pytest.raises(RuntimeError, match=r"new_trial\(force=True\)") as error:
        client.log_arguments(lr=0.2)
    assert "{'lr': 0.1}" in str(error.value) and "{'lr': 0.2}" in str(error.value)
    first.log_arguments(lr=0.1)  # the values it already has: nothing changes, no error
    second = client.new_trial(force=True, name="run-1")
    second.log_arguments(lr=0.2)
    second.log_metrics(loss=0.5)
    client.save()
    assert sorted(t.parameters["lr"] for t in reread()) == [0.1, 0.2]


def test_set_trial_resumes_or_raises(client: TrackClient) -> None:
    """set_trial finds a stored trial by uid or hash and raises TrialDoesNotExist otherwise."""
    uid = client.new_trial(parameters={"a": 1}).uid
    other = TrackClient("file://store.json")
    assert other.set_trial(uid=uid).trial.parameters == {"a": 1}
    assert other.set_trial(force=True, hash=uid.rsplit("_", 1)[0], revision=0).uid == uid
    with pytest.raises(TrialDoesNotExist):
        other.set_trial(force=True, uid=uid[:-1] + "7")
    with pytest.raises(TrialDoesNotExist):
        other.set_trial(force=True, uid="not-a-uid")
    other.close()


@pytest.mark.parametrize("form", ["parser", "namespace", "dict", "kwargs"])
def test_log_arguments_accepts_every_form(
    client: TrackClient, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """log_arguments takes an ArgumentParser, a Namespace, a dict or keywords alike."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=3)
    monkeypatch.setattr(sys, "argv", ["train.py", "--lr", "0.5"])
    given: dict[str, Any] = {
        "parser": {"args": parser},
        "namespace": {"args": parser.parse_args()},
        "dict": {"args": {"lr": 0.5, "epochs": 3}},
        "kwargs": {"lr": 0.5, "epochs": 3},
    }[form]
    namespace = client.log_arguments(**given)
    assert namespace == argparse.Namespace(lr=0.5, epochs=3)
    client.save()
    [stored] = reread()
    assert stored.parameters == {"lr": 0.5, "epochs": 3}


def pipeline_interval() -> float:
    """The flush interval a new client's write pipeline gets from the configuration."""
    client = TrackClient("ephemeral:")
    client.close()
    return client.pipeline.options.flush_interval


def test_configuration_file_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Options come from ./track.config, and TRACK_<KEY> overrides them (parsed as JSON)."""
    reset_configuration()
    config = {"log": {"backend": {"name": "from_file"}}, "flush_interval": 2.5}
    Path("track.config").write_text(json.dumps(config))
    assert find_configuration() == config
    assert options("log.backend.name") == "from_file"
    assert options("log.backend.missing", None) is None
    with pytest.raises(KeyError, match="TRACK_NOT_THERE"):
        options("not.there")
    assert pipeline_interval() == 2.5

    monkeypatch.setenv("TRACK_LOG_BACKEND_NAME", "from_env")
    monkeypatch.setenv("TRACK_FLUSH_INTERVAL", "0.25")
    assert options("log.backend.name") == "from_env"
    assert pipeline_interval() == 0.25
    reset_configuration()


def test_client_without_uri_uses_track_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """``TrackClient()`` stores where TRACK_URI says."""
    monkeypatch.setenv("TRACK_URI", "file://from_env.json")
    client = TrackClient()
    client.new_trial(parameters={"a": 1})
    client.close()
    assert len(reread("file://from_env.json")) == 1


def test_unknown_scheme_names_it_and_lists_known_ones() -> None:
    """An unknown URI scheme raises an error naming it and listing the registered schemes."""
    with pytest.raises(UnknownScheme) as error:
        TrackClient("nosuchstore://x")
    assert "'nosuchstore'" in str(error.value)
    assert "ephemeral" in str(error.value) and "file" in str(error.value)


def test_unserializable_values_name_their_key(client: TrackClient) -> None:
    """A metadata value or metric that cannot be stored raises an error naming its key."""
    trial = client.new_trial(parameters={"a": 1})
    with pytest.raises(TypeError, match="'blob'"):
        trial.log_metadata(blob=object())
    with pytest.raises(TypeError, match=r"'nested\.inner'"):
        trial.log_metadata(nested={"inner": object()})
    with pytest.raises(TypeError, match="'loss'"):
        trial.log_metrics(loss="high")
    with pytest.raises(TypeError, match="'loss'"):
        trial.log_metrics(loss=[1.0, 2.0])


def test_numpy_scalars_are_stored_as_plain_numbers(client: TrackClient) -> None:
    """numpy scalars and arrays become plain JSON numbers and lists in the file."""
    trial = client.new_trial(parameters={"lr": np.float64(0.1)})
    trial.log_metrics(step=np.int64(2), loss=np.float32(0.5), correct=np.int32(7))
    trial.log_metadata(shape=np.array([2, 3]), flag=np.bool_(True))
    client.save()
    with open("store.json", encoding="utf-8") as file:
        [doc] = json.load(file)["trials"].values()
    assert doc["parameters"] == {"lr": 0.1}
    assert doc["metrics"]["loss"][0][:2] == [2, 0.5]
    assert type(doc["metrics"]["correct"][0][1]) is int
    assert doc["metadata"]["shape"] == [2, 3]
    assert doc["metadata"]["flag"] is True


def test_capture_output_keeps_the_last_lines(client: TrackClient) -> None:
    """capture_output(n) stores the last n lines printed during the trial."""
    trial = client.new_trial(parameters={"a": 1})
    with trial:
        trial.capture_output(3)
        for i in range(5):
            print(f"line {i}")
    [stored] = reread()
    assert stored.metadata["output"]["stdout"] == ["line 2", "line 3", "line 4"]
    assert sys.stdout is not None and not hasattr(sys.stdout, "output")


def test_log_file_and_directory(client: TrackClient, tmp_path: Path) -> None:
    """Small text files are stored with content and sha256; large ones by sha256 and size."""
    folder = tmp_path / "conf"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.yaml").write_text("lr: 0.1\n")
    (folder / "sub" / "b.yaml").write_text("epochs: 3\n")
    big = tmp_path / "weights.bin"
    big.write_bytes(b"\x00\xff" * 200_000)
    trial = client.new_trial(parameters={"a": 1})
    trial.log_directory(str(folder))
    trial.log_file(str(big))
    client.save()
    files = reread()[0].metadata["files"]
    assert files[str(folder / "a.yaml")]["content"] == "lr: 0.1\n"
    assert files[str(folder / "a.yaml")]["sha256"] == hashlib.sha256(b"lr: 0.1\n").hexdigest()
    assert str(folder / "sub" / "b.yaml") not in files
    assert files[str(big)] == {
        "sha256": hashlib.sha256(big.read_bytes()).hexdigest(),
        "size": 400_000,
    }

    trial.log_directory(str(folder), recursive=True)
    client.save()
    assert reread()[0].metadata["files"][str(folder / "sub" / "b.yaml")]["size"] == 10


def test_log_code_stores_the_running_script(tmp_path: Path) -> None:
    """log_code stores the source of the script being run (``__main__``)."""
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            from track import TrackClient
            client = TrackClient("file://store.json")
            trial = client.new_trial(parameters={"a": 1})
            trial.log_code()
            client.close()
            """
        )
    )
    subprocess.run([sys.executable, str(script)], check=True, timeout=60, cwd=tmp_path)
    [stored] = reread()
    entry = stored.metadata["files"][str(script)]
    assert entry["content"] == script.read_text()
    assert stored.version == hashlib.sha256(script.read_bytes()).hexdigest()


def test_eta(client: TrackClient, capsys: pytest.CaptureFixture[str]) -> None:
    """show_eta needs set_eta_total first, then prints progress and a time estimate."""
    trial = client.new_trial(parameters={"a": 1})
    with pytest.raises(RuntimeError, match="set_eta_total"):
        trial.show_eta(0)
    trial.set_eta_total((2, 5))
    timer = StatStream(drop_first_obs=0)
    timer.update(6.0)
    line = trial.show_eta((0, 4), timer=timer)
    assert line == "[  0/  2][  4/  5] Eta: 0.50 min"
    assert capsys.readouterr().out.strip() == line
    faster = StatStream(drop_first_obs=0)
    faster.update(3.0)
    assert trial.show_eta((1, 0), timer=faster, msg="ok", no_print=True).endswith("0.20 min ok")


def test_eta_throttle_prints_every_nth_call(
    client: TrackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """show_eta(throttle=3) prints calls 3 and 6 only, and returns the line on every call."""
    trial = client.new_trial(parameters={"a": 1})
    trial.set_eta_total(10)
    lines = [trial.show_eta(step, throttle=3) for step in range(7)]
    assert all(line.startswith(f"[  {step}/ 10]") for step, line in enumerate(lines))
    assert capsys.readouterr().out.splitlines() == [lines[2], lines[5]]
    with pytest.raises(ValueError, match="throttle must be >= 1"):
        trial.show_eta(0, throttle=0)


def test_eta_every_prints_at_most_once_per_period(
    client: TrackClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """show_eta(every=S) prints the first call then nothing until S seconds passed; every=0 always."""
    trial = client.new_trial(parameters={"a": 1})
    trial.set_eta_total(10)
    lines = [trial.show_eta(step, every=3600) for step in range(3)]
    assert capsys.readouterr().out.splitlines() == [lines[0]]
    lines = [trial.show_eta(step, every=0) for step in range(3)]
    assert capsys.readouterr().out.splitlines() == lines
    with pytest.raises(ValueError, match=r"show_eta\(every=\) .* got -1"):
        trial.show_eta(0, every=-1)


def test_an_aggregator_is_refused_and_nothing_is_logged(client: TrackClient) -> None:
    """log_metrics/log_metadata(aggregator=...) raise naming the call; None is accepted."""
    from track.aggregators.aggregator import StatAggregator

    trial = client.new_trial(parameters={"a": 1})
    with pytest.raises(ValueError, match=r"log_metrics\(aggregator=.*keeps every metric point"):
        trial.log_metrics(step=0, aggregator=StatAggregator.lazy(0), loss=1.0)
    with pytest.raises(ValueError, match=r"log_metadata\(aggregator=.*report\(short=True\)"):
        trial.log_metadata(aggregator=StatAggregator.lazy(0), lr=0.1)
    trial.log_metrics(step=1, aggregator=None, loss=2.0)
    trial.log_metadata(aggregator=None, lr=0.2)
    trial.flush()
    [stored] = reread()
    assert [point[:2] for point in stored.metrics["loss"]] == [[1, 2.0]]
    assert stored.metadata["lr"] == 0.2


def test_chrono_runs_its_callbacks_around_the_timed_block(client: TrackClient) -> None:
    """chrono calls start_callback before the clock starts and end_callback before it stops."""
    calls: list[str] = []
    trial = client.new_trial(parameters={"a": 1})
    for _ in range(3):
        with trial.chrono(
            "step",
            start_callback=lambda: calls.append("start"),
            end_callback=lambda: calls.append("end"),
        ):
            calls.append("body")
    client.save()
    assert calls == ["start", "body", "end"] * 3
    assert reread()[0].chronos["step"]["count"] == 3


def test_short_report_is_a_digest(client: TrackClient, capsys: Any) -> None:
    """report(short=True) prints parameters, metric summaries, chronos and status, not the
    captured environment; the full report and the store keep everything."""
    client.set_project(name="digest")
    trial = client.new_trial(name="run", parameters={"lr": 0.1})
    trial.log_metadata(gpu="V100")
    with trial:
        for step in range(25):
            trial.log_metrics(step=step, loss=25.0 - step)
            trial.log_metrics(seen=step)
            with trial.chrono("batch"):
                pass
    capsys.readouterr()
    short = client.report(short=True)
    printed = capsys.readouterr().out
    assert json.loads(printed) == short

    keys = ["uid", "revision", "name", "description", "version", "tags", "parameters"]
    keys += ["metadata", "metrics", "chronos", "errors", "status"]
    assert list(short) == keys
    assert short["parameters"] == {"lr": 0.1}
    assert short["metadata"] == {"gpu": "V100"}  # track's own bookkeeping is in the full report
    assert short["metrics"]["loss"] == {
        "last": 1.0,
        "step": 24,
        "min": 1.0,
        "max": 25.0,
        "count": 25,
    }
    assert short["metrics"]["seen"] == {"last": 24, "min": 0, "max": 24, "count": 25}
    assert short["chronos"]["batch"]["count"] == 25 and "runtime" in short["chronos"]
    assert short["status"] == {"name": "Completed", "value": 302}
    assert len(printed.splitlines()) < 60, printed

    full = trial.report(short=False)
    assert len(full["metrics"]["loss"]) == 25
    assert "packages" in full["metadata"]["environment"]
    assert len(reread()[0].metrics["loss"]) == 25


def test_multiplexer_writes_to_two_stores() -> None:
    """A client on a ProtocolMultiplexer stores the same trial in both stores."""
    both = ProtocolMultiplexer(get_protocol("file://one.json"), get_protocol("file://two.json"))
    client = TrackClient(both)
    client.set_project(name="p")
    client.set_group(name="g")
    trial = client.new_trial(parameters={"a": 1})
    with trial:
        trial.log_metrics(step=0, loss=1.0)
    client.close()
    for uri in ("file://one.json", "file://two.json"):
        [stored] = reread(uri)
        assert stored.uid == trial.uid
        assert stored.status is Status.Completed
        assert [p[:2] for p in stored.metrics["loss"]] == [[0, 1.0]]
        store = get_protocol(uri)
        assert store.get_trial_group(TrialGroup(name="g", project_id="p")) is not None
        store.close()
