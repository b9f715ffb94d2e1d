"""Runs as data: ``track.frames.runs`` and ``history`` read back what was logged, on every store."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from optional import require
from track import TrackClient
from track.frames import RUN_COLUMNS, history, runs
from track.logger import TrialLogger
from track.persistence import get_protocol
from track.persistence.protocol import Protocol

NAN = float("nan")
#: what each trial logs: parameters -> {metric: [(step, value)]}
LOGGED: dict[float, dict[str, list[tuple[int, float]]]] = {
    0.1: {"loss": [(0, 2.0), (1, 0.5), (2, 1.0)], "acc": [(0, 0.25), (2, 0.75)]},
    0.01: {"loss": [(0, 3.0), (1, NAN), (2, -1.5), (3, NAN)]},
}


def log_trials(uri: str) -> tuple[TrackClient, dict[float, TrialLogger], tuple[float, float]]:
    """Log the trials of :data:`LOGGED` (one finished, one left running) and flush them.

    Returns the client, the trials' loggers and the time window they were logged in.
    """
    started = time.time()
    client = TrackClient(uri)
    client.set_project(name="frames")
    client.set_group(name="sweep")
    loggers = {}
    for lr, series in LOGGED.items():
        trial = client.new_trial(
            force=True, name="net", parameters={"lr": lr, "optim": {"name": "sgd"}}
        )
        trial.add_tags(seed=7)
        trial.start()
        for name, points in series.items():
            for step, value in points:
                trial.log_metrics(step=step, **{name: value})
        if lr == 0.1:
            trial.finish()
        trial.flush()
        loggers[lr] = trial
    return client, loggers, (started, time.time())


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def check_runs(frame: Any, loggers: dict[float, TrialLogger], window: tuple[float, float]) -> None:
    """One row per logged trial, holding what it logged."""
    assert list(frame.columns[: len(RUN_COLUMNS)]) == list(RUN_COLUMNS)
    rows = {row["uid"]: row for row in frame.to_dict("records")}
    assert set(rows) == {logger.uid for logger in loggers.values()}
    for lr, logger in loggers.items():
        row = rows[logger.uid]
        assert (row["name"], row["project"], row["group"]) == ("net", "frames", "sweep")
        assert row["status"] == ("Completed" if lr == 0.1 else "Running")
        assert row["parameters.lr"] == lr and row["parameters.optim.name"] == "sgd"
        assert row["tags.seed"] == 7
        # started while the test ran: after the store's first trial was created, before now
        assert window[0] <= row["start_time"].timestamp() <= window[1]
        assert (row["end_time"] is None or row["end_time"] != row["end_time"]) == (lr != 0.1)
        for name in ("loss", "acc"):
            values = [v for _, v in LOGGED[lr].get(name, [])]
            numbers = [v for v in values if not math.isnan(v)]
            expected = (values[-1], min(numbers), max(numbers)) if values else (NAN,) * 3
            found = tuple(row[f"metrics.{name}.{s}"] for s in ("last", "min", "max"))
            assert all(same(float(f), e) for f, e in zip(found, expected, strict=True)), found


def check_history(logger: TrialLogger, store: str | Protocol) -> None:
    """Long: every point as logged; wide: one column per metric, by step."""
    logged = LOGGED[logger.trial.parameters["lr"]]
    long = history(logger.uid, store=store)
    assert list(long.columns) == ["name", "step", "value", "time"]
    for name, points in logged.items():
        rows = long[long["name"] == name]
        found = list(zip(rows["step"], rows["value"], strict=True))
        assert len(found) == len(points)
        assert all(
            same(a, b)
            for f, p in zip(found, points, strict=True)
            for a, b in zip(f, p, strict=True)
        )
    wide = history(logger.uid, store=store, wide=True, names=["loss"])
    assert list(wide.columns) == ["loss"]
    assert list(wide.index) == [step for step, _ in logged["loss"]]


def test_runs_and_history_read_back_what_was_logged(store_uri: str) -> None:
    """Every store kind: values, statuses, parameters, tags and series equal what was logged."""
    require("pandas")
    client, loggers, window = log_trials(store_uri)
    # ephemeral: lives in the client's process only, so it is read through the client's store
    store: str | Protocol = client.protocol if store_uri == "ephemeral:" else store_uri
    try:
        check_runs(runs(store), loggers, window)
        for logger in loggers.values():
            check_history(logger, store)
        # a stored Trial read with every point needs no store
        (stored,) = client.protocol.get_trial(loggers[0.1].trial)
        assert list(history(stored)["value"]) == [2.0, 0.5, 1.0, 0.25, 0.75]
        # where: the command line's short form and the query language's dict
        only = runs(store, where="parameters.lr>0.05 status=completed")
        assert list(only["uid"]) == [loggers[0.1].uid]
        only = runs(store, where={"parameters.lr": {"$lt": 0.05}}, project="frames", group="sweep")
        assert list(only["uid"]) == [loggers[0.01].uid]
    finally:
        client.close()


def test_a_live_trial_gives_its_history_without_a_flush_first(tmp_path: Path) -> None:
    """``trial.history()`` on the client's trial includes what is still buffered, and
    ``track.runs`` is ``track.frames.runs`` (loaded on first use)."""
    require("pandas")
    import track

    uri = f"sqlite:///{tmp_path / 'live.db'}"
    client = TrackClient(uri, flush_interval=3600)  # nothing would reach the store on its own
    client.set_project(name="live")
    trial = client.new_trial(parameters={"lr": 0.1})
    try:
        for step in range(5):
            trial.log_metric_dict({"loss": 1.0 / (step + 1)}, step)
        wide = trial.history(wide=True)
        assert list(wide.index) == [0, 1, 2, 3, 4]
        assert list(wide["loss"]) == [1.0, 0.5, 1.0 / 3, 0.25, 0.2]
        assert track.runs is runs
        assert list(track.runs(uri)["metrics.loss.min"]) == [0.2]
    finally:
        client.close()


def test_an_empty_store_is_an_empty_frame(tmp_path: Path) -> None:
    """No trials: no rows, and the fixed columns still there."""
    require("pandas")
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    get_protocol(uri).close()
    frame = runs(uri)
    assert len(frame) == 0 and list(frame.columns) == list(RUN_COLUMNS)


def test_polars_frames_hold_the_same_values(
    tmp_path: Path, store_kinds: dict[str, Callable[[Path], AbstractContextManager[str]]]
) -> None:
    """backend="polars": the same rows and points as pandas, as polars DataFrames."""
    require("pandas")
    polars = require("polars")
    with store_kinds["sqlite"](tmp_path) as uri:
        client, loggers, window = log_trials(uri)
        client.close()
        frame = runs(uri, backend="polars")
        assert isinstance(frame, polars.DataFrame)
        check_runs(frame.to_pandas(), loggers, window)
        logger = loggers[0.1]
        long = history(logger.uid, store=uri, backend="polars")
        assert long.to_pandas().equals(history(logger.uid, store=uri))
        wide = history(logger.uid, store=uri, wide=True, backend="polars")
        assert wide.columns == ["step", "loss", "acc"]
        assert wide["loss"].to_list() == [2.0, 0.5, 1.0] and wide["acc"].to_list()[1] is None


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_missing_pandas_names_the_extra(tmp_path: Path) -> None:
    """Without pandas, runs() raises a TrackError that is an ImportError naming track[data]."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    code = f"""
import sys
sys.modules["pandas"] = None  # what an interpreter without pandas sees
from track.errors import TrackError
from track.frames import runs
try:
    runs({uri!r})
except TrackError as error:
    assert isinstance(error, ImportError), type(error)
    print(error)
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert "pip install 'track[data]'" in done.stdout


def test_importing_track_and_its_frames_imports_no_dataframe_library() -> None:
    """pandas and polars are imported when a frame is built, not by import track(.frames)."""
    code = (
        "import json, sys, track, track.frames; "
        "print(json.dumps(sorted({'pandas', 'polars'} & set(sys.modules))))"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_example_of_docs_data_md_runs(tmp_path: Path) -> None:
    """docs/data.md's example runs as written and prints the two trials its query keeps."""
    require("pandas")
    text = (Path(__file__).resolve().parent.parent / "docs" / "data.md").read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(
        [sys.executable, "-c", example],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("mlp") == 2 and "Completed" in done.stdout


def test_a_trial_shows_as_an_html_table_and_plots_its_curves(tmp_path: Path) -> None:
    """Jupyter: a client's trial renders as a table (values escaped), and plot() gives a plotly
    figure with one line per metric holding the logged points, no server involved."""
    require("plotly")
    uri = f"sqlite:///{tmp_path / 'nb.db'}"
    client = TrackClient(uri)
    client.set_project(name="nb")
    trial = client.new_trial(name="<b>mlp</b>", parameters={"lr": 0.1, "optim": {"name": "sgd"}})
    try:
        for step in range(3):
            trial.log_metric_dict({"loss": 1.0 / (step + 1), "acc": step / 4}, step)
        shown = trial._repr_html_()
        assert "&lt;b&gt;mlp&lt;/b&gt;" in shown and "<b>mlp" not in shown
        assert trial.uid in shown and "parameters.lr" in shown
        assert "{&quot;name&quot;: &quot;sgd&quot;}" in shown
        assert "metrics.loss" in shown and "0.3333333333333333 at step 2" in shown
        figure = trial.plot()
        lines = {line.name: (list(line.x), list(line.y)) for line in figure.data}
        assert lines == {
            "loss": ([0, 1, 2], [1.0, 0.5, 1.0 / 3]),
            "acc": ([0, 1, 2], [0.0, 0.25, 0.5]),
        }
        only = trial.plot(names=["acc"], x="time")
        assert [line.name for line in only.data] == ["acc"]
        assert all(when.tzinfo is not None for when in only.data[0].x)
    finally:
        client.close()
