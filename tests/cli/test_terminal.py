"""``track ls`` and ``track show`` for people: on a real pseudo-terminal (80 columns) and piped.

The terminal table fits the terminal without splitting a cell, shows the 50 most recent trials
and says what it left out; piped output stays exact TSV/JSON; the summary names each metric's
last/min/max; without rich the summary is plain text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirunner import TRACK, run, track

from track.persistence import get_protocol
from track.reading import format_value, human_duration, sparkline, summary_wanted
from track.structure import Status, Trial

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
NARROW = {"COLUMNS": "80"}
#: durations of the wide store's trials, cycled: 2 h 14 min, 0.03 s, 3 min 05 s
DURATIONS = (8040.0, 0.034, 185.0)


def plain(text: str) -> list[str]:
    """Terminal output as lines without colour codes."""
    return ANSI.sub("", text).replace("\r", "").splitlines()


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store of 60 trials, too many columns for 80 characters, one trial failed."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('terminal') / 'wide.db'}"
    store = get_protocol(uri)
    start = time.time() - 100_000
    for index in range(60):
        store.new_trial(
            Trial(
                name=f"experiment-with-a-long-name-{index:02d}",
                parameters={"index": index, "learning_rate": 10.0 ** -(index % 4), "seed": 7},
                metadata={
                    "start_time": start + index,
                    "end_time": start + index + DURATIONS[index % 3],
                },
                metrics={
                    name: [[0, 1.5 + index, start], [1, 0.25 * index, start + 1]]
                    for name in ("validation_loss", "train_accuracy", "throughput_per_second")
                },
                status=Status.Exception if index == 59 else Status.Completed,
            )
        )
    store.close()
    return uri


def table_rows(lines: list[str]) -> list[list[str]]:
    """The cells of a rich table's body rows (``│ a │ b │``)."""
    return [[c.strip() for c in line.strip("│").split("│")] for line in lines if "│" in line]


def test_ls_fits_an_80_column_terminal(wide_store: str) -> None:
    """At 80 columns: whole cells, the 50 most recent trials, notes on what was left out."""
    result = track("ls", "--store", wide_store, tty=True, env=NARROW)
    assert result.code == 0, result.err
    lines = plain(result.out)
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in table)
    piped = track("ls", "--store", wide_store).out.splitlines()[1:]
    recent = [line.split("\t") for line in piped[-50:]]
    rows = table_rows(lines)
    assert len(rows) == 50
    assert [r[0] for r in rows] == [f"{uid[:12]}_0" for uid, *_ in recent]
    assert [r[1] for r in rows] == [name for _, name, *_ in recent]
    assert rows[-1][2] == "Exception" and rows[0][2] == "Completed"
    assert {r[3] for r in rows} == {"2 h 14 min", "0.03 s", "3 min 05 s"}
    text = " ".join(lines)
    assert "50 of 60 trials" in text
    assert "10 older trials not shown" in text and "--all" in text and "--limit" in text
    assert re.search(r"\d+ columns left out \(.*throughput_per_second", text)
    assert "--columns" in text
    assert "\x1b[1;31mException" in result.out  # a failed trial in red


def test_ls_all_limit_and_columns_on_terminal(wide_store: str) -> None:
    """``--all`` lists every trial, ``--limit`` the most recent N, ``--columns`` picks columns."""
    every = track("ls", "--store", wide_store, "--all", tty=True, env=NARROW)
    assert len(table_rows(plain(every.out))) == 60 and "older trials" not in every.out
    few = track("ls", "--store", wide_store, "--limit", "5", "--columns", "name,seed", tty=True)
    rows = table_rows(plain(few.out))
    assert rows == [[f"experiment-with-a-long-name-{i}", "7"] for i in range(55, 60)]
    assert "55 older trials not shown" in " ".join(plain(few.out))


def test_ls_piped_stays_exact(wide_store: str) -> None:
    """Piped: every trial, every column, full uids and raw seconds, no colour codes."""
    lines = track("ls", "--store", wide_store, env=NARROW).out.splitlines()
    assert len(lines) == 61 and "\x1b" not in "".join(lines)
    header = lines[0].split("\t")
    assert header[:4] == ["uid", "name", "status", "duration"]
    assert {"index", "learning_rate", "validation_loss", "throughput_per_second"} <= set(header)
    first = dict(zip(header, lines[1].split("\t"), strict=True))
    assert len(first["uid"]) > 60 and float(first["duration"]) == pytest.approx(DURATIONS[0])
    limited = track("ls", "--store", wide_store, "--limit", "3", "--columns", "name").out
    assert limited.splitlines()[1:] == [f"experiment-with-a-long-name-{i}" for i in (57, 58, 59)]


def expected_stats(store: str, uid: str) -> dict[str, list[str]]:
    """Each metric's last/min/max as the summary prints them, from the full JSON report."""
    report = json.loads(track("show", uid, "--full", "--store", store).out)
    stats = {}
    for name, points in report["metrics"].items():  # {step: value}, in step order
        values = list(points.values())
        stats[name] = [format_value(v) for v in (values[-1], min(values), max(values))]
    return stats


def summary_checks(lines: list[str], store: str, uid: str) -> None:
    """The summary names the trial, its status, store, parameters, metrics and the ui command."""
    text = "\n".join(lines)
    assert uid in text and "lr=0.01" in text and "Completed" in text
    assert f"stored in   {store}" in text and f"track ui --store {store}" in text
    for name, (last, low, high) in expected_stats(store, uid).items():
        row = next(line.split() for line in lines if line.startswith(name + " "))
        assert row[1:4] == [last, low, high]
        assert set(row[4]) <= set("▁▂▃▄▅▆▇█") and len(row[4]) > 1


def test_show_prints_the_summary_on_a_terminal(sweep_store: str) -> None:
    """On a terminal ``show`` prints the summary; ``--json`` keeps the JSON report there."""
    uid = track("ls", "--store", sweep_store).out.splitlines()[1].split("\t")[0]
    result = track("show", uid[:12] + "_0", "--store", sweep_store, tty=True, env=NARROW)
    assert result.code == 0, result.err
    summary_checks(plain(result.out), sweep_store, uid)
    assert "\x1b[32mCompleted" in result.out
    as_json = track("show", uid, "--json", "--store", sweep_store, tty=True)
    assert '"parameters"' in as_json.out


def test_summary_is_plain_text_without_rich(sweep_store: str) -> None:
    """With rich blocked, the summary (and ``ls``) still print, as plain text."""
    uid = track("ls", "--store", sweep_store).out.splitlines()[1].split("\t")[0]
    code = (
        "import sys; sys.modules['rich'] = None\n"
        "from track.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    command = [sys.executable, "-c", code, "show", uid, "--summary", "--store", sweep_store]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    summary_checks(done.stdout.splitlines(), sweep_store, uid)


def test_human_units_and_sparkline() -> None:
    """Durations read as people say them; a long series is downsampled to a short sparkline."""
    assert [human_duration(s) for s in (0.0017, 0.034, 4.25, 42, 185, 8040, 200_000)] == [
        "1.7 ms",
        "0.03 s",
        "4.2 s",
        "42 s",
        "3 min 05 s",
        "2 h 14 min",
        "2 d 7 h",
    ]
    line = sparkline([float(i) for i in range(1000)], width=24)
    assert len(line) == 24 and line[0] == "▁" and line[-1] == "█"
    assert sparkline([float("nan")]) == ""


def test_summary_switch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """TRACK_SUMMARY=0/1 forces the end-of-trial summary off/on; by default only on a terminal."""
    with (tmp_path / "out.txt").open("w") as file:
        monkeypatch.setenv("TRACK_SUMMARY", "1")
        assert summary_wanted(file)
        monkeypatch.setenv("TRACK_SUMMARY", "0")
        assert not summary_wanted(file)
        monkeypatch.delenv("TRACK_SUMMARY")
        assert not summary_wanted(file)


RUN_SCRIPT = """
import sys
from track import TrackClient
client = TrackClient(sys.argv[1])
client.set_project(name="summary")
with client.new_trial(name="mlp", parameters={"lr": 0.1}) as trial:
    for step in range(20):
        trial.log_metric_dict({"loss": 1.0 / (step + 1)}, step)
if len(sys.argv) > 2:
    client.report()
client.close()
"""


def test_a_with_trial_block_ends_with_the_summary_on_stderr(tmp_path: Path) -> None:
    """TRACK_SUMMARY=1: the block's end prints the stored trial's summary to stderr (never to
    stdout, which is the script's); TRACK_SUMMARY=0 and a piped default print nothing."""
    uri = f"sqlite:///{tmp_path / 'run.db'}"
    forced = run([sys.executable, "-c", RUN_SCRIPT, uri], env={"TRACK_SUMMARY": "1"})
    assert forced.code == 0, forced.err
    lines = plain(forced.err)
    assert any(line.startswith("mlp") and "Completed" in line for line in lines)
    (loss,) = [line.split() for line in lines if line.startswith("loss")]
    assert loss[1:4] == ["0.05", "0.05", "1"], loss
    assert any("track ui --store" in line for line in lines)
    assert forced.out == ""
    for env in ({"TRACK_SUMMARY": "0"}, {}):
        quiet = run([sys.executable, "-c", RUN_SCRIPT, uri], env=env)
        assert quiet.code == 0 and "track ui" not in quiet.err, quiet.err


def test_report_on_a_terminal_is_the_summary_and_json_when_piped(tmp_path: Path) -> None:
    """client.report(): the summary for people on a terminal, the JSON digest for programs."""
    uri = f"sqlite:///{tmp_path / 'run.db'}"
    quiet = {"TRACK_SUMMARY": "0"}
    shown = run([sys.executable, "-c", RUN_SCRIPT, uri, "report"], tty=True, env=quiet)
    assert shown.code == 0, shown.err
    lines = plain(shown.out)
    assert any(line.startswith("loss") for line in lines) and "{" not in shown.out
    piped = run([sys.executable, "-c", RUN_SCRIPT, uri, "report"], env=quiet)
    assert json.loads(piped.out)["metrics"]["loss"]["min"] == 0.05


def test_long_commands_show_progress_on_a_terminal_only(wide_store: str, tmp_path: Path) -> None:
    """track copy and export draw a progress line (count of trials) on a terminal's stderr;
    piped, stderr stays empty and the output is the same."""
    destination = f"sqlite:///{tmp_path / 'copy.db'}"
    shown = run([TRACK, "copy", wide_store, destination], stderr_tty=True)
    assert shown.code == 0, shown.err
    assert "copying trials" in shown.err and "60/60" in ANSI.sub("", shown.err)
    again = track("copy", wide_store, f"sqlite:///{tmp_path / 'copy2.db'}")
    assert again.code == 0 and again.err == "" and again.out == shown.out
    exported = run([TRACK, "export", "--store", wide_store], stderr_tty=True)
    assert exported.code == 0 and "exporting trials" in exported.err
    assert exported.out == track("export", "--store", wide_store).out
