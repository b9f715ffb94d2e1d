"""The CockroachDB node launcher: one clear sentence without the binary; with one, a node's life.

The ``cockroach`` binary cannot be installed on this machine, so the life-cycle tests put a
stand-in on PATH (``fake_cockroach.py``): what they check is the launcher (command line, report
parsing, waiting, stopping, cleaning), run against a real process.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from track.distributed.cockroachdb import CockRoachDB, CockroachDB, CockroachNotFound

HERE = Path(__file__).resolve().parent


@pytest.fixture
def fake_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH whose only ``cockroach`` is the stand-in; returns where it records its arguments."""
    folder = tmp_path / "bin"
    folder.mkdir()
    binary = folder / "cockroach"
    binary.write_text(f'#!/bin/sh\nexec {sys.executable} {HERE / "fake_cockroach.py"} "$@"\n')
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(folder))
    args = tmp_path / "args.json"
    monkeypatch.setenv("FAKE_COCKROACH_ARGS", str(args))
    return args


def test_without_the_binary_start_fails_with_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no cockroach on PATH, start() raises one sentence naming the binary and the way out."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    node = CockroachDB(str(tmp_path / "data"), "127.0.0.1:26257")
    with pytest.raises(CockroachNotFound) as error:
        node.start()
    message = str(error.value)
    assert "`cockroach` binary, which is not on PATH" in message
    assert "\n" not in message and message.count(". ") == 0
    assert not (tmp_path / "data").exists() and node.process is None


def test_a_node_starts_reports_and_stops(tmp_path: Path, fake_binary: Path) -> None:
    """start() runs a single node on the store and address, parses its report; stop() cleans."""
    data = tmp_path / "data"
    node = CockRoachDB(str(data), "127.0.0.1:26299", http_addrs="127.0.0.1:8099")
    node.start()
    try:
        assert json.loads(fake_binary.read_text()) == [
            "start-single-node",
            "--insecure",
            f"--store={data}",
            "--listen-addr=127.0.0.1:26299",
            "--http-addr=127.0.0.1:8099",
        ]
        assert node.node_id == "1" and node.status == "initialized new cluster"
        assert node.sql == "postgresql://root@127.0.0.1:26299/defaultdb?sslmode=disable"
        assert node.uri == "cockroach://root@127.0.0.1:26299/defaultdb?sslmode=disable"
        assert node.client_flags == "cockroach <client cmd> --host=127.0.0.1:26299 --insecure"
        assert node.build is not None and node.build.startswith("CCL v23")
        assert node.webui == "http://127.0.0.1:8080"
        process = node.process
        assert process is not None and process.poll() is None and data.is_dir()
    finally:
        node.stop()
    assert process.poll() is not None and not data.exists()


def test_joining_nodes_and_an_existing_folder(tmp_path: Path, fake_binary: Path) -> None:
    """join= starts with --join; stop() keeps a folder that existed before start()."""
    data = tmp_path / "mine"
    data.mkdir()
    node = CockroachDB(str(data), "127.0.0.1:26300", join=["a:1", "b:2"])
    node.start()
    node.stop()
    args = json.loads(fake_binary.read_text())
    assert args[0] == "start" and args[-1] == "--join=a:1,b:2"
    assert data.is_dir()


def test_a_node_that_fails_to_start_raises_with_its_output(
    tmp_path: Path, fake_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If cockroach exits before reporting, start() raises with its status and its last words."""
    monkeypatch.setenv("FAKE_COCKROACH_MODE", "fail")
    node = CockroachDB(str(tmp_path / "data"), "127.0.0.1:26301")
    with pytest.raises(RuntimeError, match=r"status 1 before it started:\nERROR: .*address"):
        node.start()
    assert node.process is None and not (tmp_path / "data").exists()


def test_wait_before_start_is_an_error(tmp_path: Path) -> None:
    """wait() on a node never started says to start it."""
    with pytest.raises(RuntimeError, match="start"):
        CockroachDB(str(tmp_path), "127.0.0.1:1").wait()


def test_the_launcher_lives_at_the_documented_path_and_in_track_distributed() -> None:
    """track.distributed stays the rank helpers' module and gains the cockroachdb submodule."""
    import track.distributed as distributed

    assert callable(distributed.detect_rank) and distributed.cockroachdb.CockroachDB is CockroachDB
    assert os.path.basename(distributed.__file__) == "__init__.py"
