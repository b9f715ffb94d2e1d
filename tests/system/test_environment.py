"""The environment recorded once per trial (track/system/environment.py, git branch)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from optional import require, unavailable
from track import TrackClient
from track.system import capture_environment
from track.versioning import get_git_branch

DOCUMENTED_KEYS = {
    "python",
    "platform",
    "hostname",
    "cpu",
    "memory_total_mb",
    "gpu",
    "frameworks",
    "argv",
    "cwd",
    "pid",
    "git",
    "packages",
}


def test_trial_metadata_holds_the_documented_environment() -> None:
    """A started trial stores every documented key, with this interpreter's real values."""
    client = TrackClient("ephemeral:", system_metrics_interval=0)
    trial = client.new_trial(name="env")
    with trial:
        pass
    environment = client.protocol.get_trial(trial.trial)[0].metadata["environment"]
    assert set(environment) == DOCUMENTED_KEYS
    assert environment["python"]["version"] == platform.python_version()
    assert environment["python"]["executable"] == sys.executable
    assert environment["packages"]["track"] == importlib.metadata.version("track")
    assert environment["pid"] == os.getpid()
    assert environment["cwd"] == os.getcwd()
    assert environment["cpu"]["count"] == os.cpu_count()
    assert environment["memory_total_mb"] > 0


def test_frameworks_are_those_already_imported() -> None:
    """numpy's version is recorded once the script has imported numpy."""
    numpy = require("numpy")
    assert capture_environment()["frameworks"]["numpy"] == numpy.__version__


def git(folder: Path, *args: str) -> str:
    """Run a real git command in a scratch repository."""
    command = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch git repository on branch ``feature`` with one commit."""
    if shutil.which("git") is None:
        unavailable("git is not installed")
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "feature")
    (folder / "train.py").write_text("print('hi')\n")
    git(folder, "add", "train.py")
    git(folder, "commit", "-q", "-m", "first")
    return folder


def test_branch_is_read_from_head_and_none_when_detached(repo: Path) -> None:
    """get_git_branch names the checked-out branch, in a worktree too, and None when detached."""
    assert get_git_branch(str(repo / "train.py")) == "feature"
    git(repo, "worktree", "add", "-q", "-b", "other", str(repo.parent / "wt"))
    assert get_git_branch(str(repo.parent / "wt")) == "other"
    git(repo, "checkout", "-q", "--detach")
    assert get_git_branch(str(repo)) is None
    assert get_git_branch(str(repo.parent)) is None


def test_script_in_git_records_commit_branch_dirty_with_two_git_calls(
    repo: Path, tmp_path: Path
) -> None:
    """A script in a work tree records git commit/branch/dirty; git runs twice per trial, not more."""
    calls = tmp_path / "git-calls"
    shim = tmp_path / "bin" / "git"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {shutil.which("git")} "$@"\n')
    shim.chmod(0o755)
    (repo / "train.py").write_text(
        "import json\nfrom track import TrackClient\n"
        f"client = TrackClient('file://{tmp_path / 'store.json'}', system_metrics_interval=0)\n"
        "trial = client.new_trial(name='git')\n"
        "with trial:\n    pass\n"
        "print(json.dumps(client.protocol.get_trial(trial.trial)[0].metadata['environment']))\n"
    )
    env = {**os.environ, "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    environment = json.loads(done.stdout)
    assert environment["git"] == {
        "commit": git(repo, "rev-parse", "HEAD"),
        "branch": "feature",
        "dirty": True,
    }
    assert environment["argv"] == ["train.py"]
    assert len(calls.read_text().splitlines()) == 2


def test_argv_is_captured_with_secrets_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URI password, ``--password X`` and ``token=X`` on the command line are stored as ***."""
    monkeypatch.setattr(
        sys,
        "argv",
        ["train.py", "--store", "socket://bob:s3cr%40t@h:1", "--password", "hunter2", "token=t0k"],
    )
    argv = capture_environment()["argv"]
    assert argv == ["train.py", "--store", "socket://bob:***@h:1", "--password", "***", "token=***"]
