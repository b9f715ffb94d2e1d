"""Every ``track`` command through the real console script: piped, on a terminal, and bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from clirunner import track

from optional import require

TRIAL_FIELDS = {"uid", "name", "status", "duration"}


def uids(store: str) -> list[str]:
    """Uids of the store's trials in listing order (oldest first)."""
    lines = track("ls", "--store", store).out.splitlines()[1:]
    return [line.split("\t")[0] for line in lines]


def test_ls_piped_is_tsv(sweep_store: str) -> None:
    """Piped, ``ls`` prints a TSV header and one line per trial with parameters and metrics."""
    result = track("ls", "--store", sweep_store)
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out), delimiter="\t"))
    assert len(rows) == 4
    assert TRIAL_FIELDS | {"lr", "batch_size", "loss", "accuracy"} <= set(rows[0])
    assert {r["status"] for r in rows} == {"Completed"}
    assert [r["lr"] for r in rows] == ["0.01", "0.02", "0.03", "0.04"]


def test_ls_on_terminal_is_a_table(sweep_store: str) -> None:
    """On a terminal ``ls`` draws a table with short uids and a title."""
    result = track("ls", "--store", sweep_store, tty=True)
    assert result.code == 0, result.err
    assert "4 trials" in result.out
    assert "┃" in result.out and "Completed" in result.out
    assert uids(sweep_store)[0][:12] in result.out


def test_ls_filters(sweep_store: str) -> None:
    """Project, group and short-form or JSON queries narrow the listing."""
    short = track("ls", "--store", sweep_store, "--where", "parameters.lr>0.02 status=completed")
    as_json = track("ls", "--store", sweep_store, "--where", '{"parameters.lr": {"$gt": 0.02}}')
    grouped = track("ls", "--store", sweep_store, "--project", "demo", "--group", "sweep")
    assert len(short.out.splitlines()) == 3
    assert short.out == as_json.out
    assert len(grouped.out.splitlines()) == 5


def test_ls_uses_track_uri(sweep_store: str) -> None:
    """Without --store, ``ls`` reads the store TRACK_URI names, like TrackClient."""
    result = track("ls", env={"TRACK_URI": sweep_store})
    assert result.code == 0 and len(result.out.splitlines()) == 5


def test_show_piped_and_on_terminal(sweep_store: str) -> None:
    """``show`` prints the report as JSON when piped, highlighted on a terminal with --json."""
    uid = uids(sweep_store)[0]
    piped = track("show", uid, "--store", sweep_store)
    report = json.loads(piped.out)
    assert report["uid"] == uid and report["parameters"]["lr"] == 0.01
    assert len(report["metrics"]["loss"]) == 10
    full = json.loads(track("show", uid[:12] + "_0", "--full", "--store", sweep_store).out)
    assert len(full["metrics"]["loss"]) == 50
    terminal = track("show", uid, "--json", "--store", sweep_store, tty=True)
    assert terminal.code == 0 and "\x1b[" in terminal.out and '"parameters"' in terminal.out


def test_compare_piped_and_on_terminal(sweep_store: str) -> None:
    """``compare`` puts trials side by side: parameters, final and best metric values."""
    first, second, *_ = uids(sweep_store)
    piped = track("compare", first, second, "--store", sweep_store)
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in piped.out.splitlines()}
    assert rows["field"] == [first, second]
    assert rows["parameters.lr"] == ["0.01", "0.02"]
    assert {"loss (final)", "loss (best)", "accuracy (final)", "accuracy (best)"} <= set(rows)
    assert float(rows["loss (best)"][0]) <= float(rows["loss (final)"][0])
    terminal = track("compare", first, second, "--store", sweep_store, tty=True)
    assert terminal.code == 0 and "comparison" in terminal.out and first[:12] in terminal.out


def test_export_points_csv_and_json(sweep_store: str) -> None:
    """``export`` writes one row per metric point, as CSV or JSON."""
    rows = list(csv.DictReader(io.StringIO(track("export", "--store", sweep_store).out)))
    assert len(rows) == 4 * (50 + 5)
    assert {"uid", "metric", "step", "value", "time", "parameters.lr"} <= set(rows[0])
    records = json.loads(track("export", "--format", "json", "--store", sweep_store).out)
    assert len(records) == len(rows)
    assert {r["metric"] for r in records} == {"loss", "accuracy"}


def test_export_summary(sweep_store: str, tmp_path: Path) -> None:
    """``export --summary`` writes one row per trial with last metric values, to a file too."""
    out = tmp_path / "summary.csv"
    result = track("export", "--summary", "-o", str(out), "--store", sweep_store)
    assert result.code == 0 and result.out == ""
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and {"metrics.loss", "duration", "parameters.lr"} <= set(rows[0])


def test_export_parquet(sweep_store: str, tmp_path: Path) -> None:
    """``export --format parquet`` writes a table pyarrow reads back."""
    pq = require("pyarrow.parquet")
    out = tmp_path / "points.parquet"
    result = track("export", "--format", "parquet", "-o", str(out), "--store", sweep_store)
    assert result.code == 0, result.err
    table = pq.read_table(out)
    assert table.num_rows == 4 * 55 and "value" in table.column_names


def test_ui_help_lists_options() -> None:
    """``track ui --help`` documents the store, host and port options."""
    result = track("ui", "--help")
    assert result.code == 0 and "--port" in result.out and "--store" in result.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ls", "--store", "nosuch://x"], "unknown store scheme 'nosuch'"),
        (["ls", "--store", "file:///no/such/store.json"], "no store at"),
        (["ls", "--store", "not a uri"], "not a store URI"),
        (["ls", "--where", "lr>"], "no value after the operator"),
        (["ls", "--where", "parameters.lr"], "bad query term"),
        (["ls", "--where", '{"lr": {"$near": 1}}'], "unknown operator '$near'"),
        (["ls", "--project", "nosuch"], "no project 'nosuch'"),
        (["ls", "--group", "nosuch"], "no group 'nosuch'"),
        (["show", "ffff_0"], "no trial 'ffff_0'"),
        (["compare", "ffff_0", "eeee_0"], "no trial 'ffff_0'"),
        (["export", "--where", "x=="], "no value after the operator"),
        (["ui", "--store", "nosuch://x"], "unknown store scheme"),
    ],
)
def test_bad_input_is_one_clear_line(sweep_store: str, args: list[str], message: str) -> None:
    """Bad URIs, unknown uids and bad queries exit 2 with one line on stderr, no traceback."""
    if "--store" not in args:
        args = [*args, "--store", sweep_store]
    result = track(*args)
    assert result.code == 2
    assert result.err.count("\n") == 1 and message in result.err, result.err
    assert "Traceback" not in result.err and result.out == ""


def test_a_track_error_outside_value_errors_is_one_line(tmp_path: Path) -> None:
    """A refused login (a ServerError, no ValueError) is one redacted line and exit 2."""
    from server.trackserver import running_server

    with running_server(tmp_path, f"file://{tmp_path / 'server.json'}", layer=None) as server:
        result = track("ls", "--store", server.uri(password="wrong-secret", timeout="10"))
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and "wrong user name or password" in result.err
    assert "Traceback" not in result.err and "wrong-secret" not in result.err


def test_a_folder_named_as_a_file_is_one_line(tmp_path: Path) -> None:
    """``track replay FOLDER``: the OSError about the file the user named is one line, exit 2."""
    result = track("replay", str(tmp_path), "--store", "ephemeral:")
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert str(tmp_path) in result.err and "Traceback" not in result.err


def test_an_internal_bug_shows_its_traceback(tmp_path: Path) -> None:
    """A bug in a command (here a KeyError no track code raised on purpose) is not hidden as a
    one-line user error: the real interpreter prints its traceback and exits non-zero."""
    script = (
        "import sys, track.cli.ls as ls\n"
        "from track.cli import main\n"
        "def run(args):\n"
        "    return {}['internal']\n"
        "ls.run = run\n"
        "sys.exit(main(['ls']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" in done.stderr and "KeyError: 'internal'" in done.stderr


@pytest.mark.parametrize("bug", [ValueError, ZeroDivisionError])
def test_a_bug_in_run_propagates_from_main(
    monkeypatch: pytest.MonkeyPatch, bug: type[Exception]
) -> None:
    """main() lets a non-track exception out (pytest sees it), whatever its built-in type."""
    import track.cli.show as show
    from track.cli import main

    def run(args: object) -> int:
        raise bug("internal")

    monkeypatch.setattr(show, "run", run)
    with pytest.raises(bug, match="internal"):
        main(["show", "abc_0"])
