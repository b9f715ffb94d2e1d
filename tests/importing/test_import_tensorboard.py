"""``track import tensorboard``: runs written with tensorboardX, imported, compared point by point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from importcheck import imported, same_points, track_import

from optional import require

require("tensorboard", reason="the reader: pip install track[import-tensorboard]")
require("tensorboardX", reason="the writer of the test runs")

T0 = 1_700_000_000.0


def write_logdir(logdir: Path) -> dict[str, dict[str, Any]]:
    """Three runs (one nested, one with hparams) written by tensorboardX; what each holds."""
    from tensorboardX import SummaryWriter
    from tensorboardX.summary import hparams

    expected = {}
    for offset, name in enumerate(["a", "b", "sweep/c"]):
        writer = SummaryWriter(str(logdir / name))
        series: dict[str, list[tuple[Any, float, float]]] = {"train/loss": [], "acc": []}
        for step in range(120):
            when = T0 + offset * 10_000 + step * 0.25
            for tag, value in (("train/loss", 1.0 / (step + 1) + offset), ("acc", step / 128)):
                writer.add_scalar(tag, value, step, walltime=when)
                series[tag].append((step, value, when))
        if name == "b":
            for summary in hparams({"lr": 0.01, "optimizer": "adam"}, {"acc": 0.9}):
                writer.file_writer.add_summary(summary)
        writer.close()
        expected[name] = series
    return expected


def check(uri: str, expected: dict[str, dict[str, Any]], project: str) -> None:
    """Each run folder is one trial holding exactly its scalars."""
    trials = {t.name: (t, m) for t, m in imported(uri).values()}
    assert trials.keys() == expected.keys()
    for name, series in expected.items():
        trial, metrics = trials[name]
        assert trial.project_id == project
        assert trial.status is not None and trial.status.name == "Completed"
        assert trial.parameters == ({"lr": 0.01, "optimizer": "adam"} if name == "b" else {})
        assert metrics.keys() == series.keys()
        for tag, points in series.items():
            assert same_points(metrics[tag], points), (name, tag)


def test_import_tensorboard_point_by_point(tmp_path: Path) -> None:
    """Every run folder, scalar and hparam arrives; importing again adds nothing."""
    from track.importing import import_runs
    from track.importing.tensorboard import read_runs
    from track.persistence import get_protocol

    expected = write_logdir(tmp_path / "logs")
    uri = f"sqlite:///{tmp_path / 'track.db'}"
    store = get_protocol(uri)
    first = import_runs(read_runs(str(tmp_path / "logs")), store, batch_points=100)
    again = import_runs(read_runs(str(tmp_path / "logs")), store)
    store.close()
    assert (first.created, first.points) == (3, 3 * 240)
    assert (again.created, again.merged, again.unchanged, again.points) == (0, 0, 3, 0)
    check(uri, expected, project="logs")


def test_track_import_tensorboard_cli_merges_new_points(tmp_path: Path) -> None:
    """``track import tensorboard`` into a file store; a run that went on gets only its new points."""
    from tensorboardX import SummaryWriter

    expected = write_logdir(tmp_path / "logs")
    uri = f"file://{tmp_path / 'track.json'}"
    done = track_import("tensorboard", str(tmp_path / "logs"), "--store", uri, "--project", "tb")
    assert done.returncode == 0, done.stderr
    assert "3 created" in done.stdout
    # a resumed run: a second event file (the suffix keeps it apart within the same second)
    writer = SummaryWriter(str(tmp_path / "logs" / "a"), filename_suffix=".resumed")
    writer.add_scalar("acc", 2.0, 120, walltime=T0 + 500)
    writer.close()
    expected["a"]["acc"].append((120, 2.0, T0 + 500))
    again = track_import("tensorboard", str(tmp_path / "logs"), "--store", uri, "--project", "tb")
    assert "0 created, 1 merged, 2 unchanged; 1 points written" in again.stdout, again.stderr
    check(uri, expected, project="tb")


def test_import_through_a_track_server(tmp_path: Path, store_kinds: Any) -> None:
    """Importing into socket:// (an AES server, sqlite behind it) stores the same points, and
    a second import through the server adds nothing."""
    from track.importing import import_runs
    from track.importing.tensorboard import read_runs
    from track.persistence import get_protocol

    expected = write_logdir(tmp_path / "logs")
    with store_kinds["socket-aes-sqlite"](tmp_path) as uri:
        store = get_protocol(uri)
        try:
            first = import_runs(read_runs(str(tmp_path / "logs")), store, batch_points=100)
            again = import_runs(read_runs(str(tmp_path / "logs")), store)
        finally:
            store.close()
        assert (first.created, first.points) == (3, 3 * 240)
        assert (again.created, again.unchanged, again.points) == (0, 3, 0)
        check(uri, expected, project="logs")
