"""``track artifacts ls`` and ``get``, run as real subprocesses on real stores."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from clirunner import track

from track.persistence import get_protocol
from track.structure import Trial


def logged(uri: str, files: dict[str, bytes]) -> Trial:
    """A trial of ``uri`` with these artifacts."""
    store = get_protocol(uri)
    trial = Trial(name="t", parameters={"lr": 0.1})
    store.new_trial(trial)
    for name, data in files.items():
        store.put_artifact(trial, name, io.BytesIO(data))
    store.close()
    return trial


@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_ls_and_get_round_trip(tmp_path: Path, scheme: str) -> None:
    """ls lists each artifact with its digest; get writes the same bytes under --to DIR."""
    uri = (
        f"{scheme}://{tmp_path / 'store.db'}"
        if scheme == "file"
        else f"sqlite:///{tmp_path / 's.db'}"
    )
    data = os.urandom(3000)
    trial = logged(uri, {"plots/loss.png": data, "config.yaml": b"lr: 0.1\n"})
    listed = track("artifacts", "ls", trial.uid[:10], "--json", "--store", uri)
    assert listed.code == 0, listed.err
    index = json.loads(listed.out)
    assert [a["name"] for a in index] == ["config.yaml", "plots/loss.png"]
    assert index[1]["sha256"] == hashlib.sha256(data).hexdigest()
    table = track("artifacts", "ls", trial.uid, "--store", uri)
    assert table.out.splitlines()[0].split("\t") == ["name", "size", "media type", "time", "sha256"]
    got = track(
        "artifacts",
        "get",
        trial.uid,
        "plots/loss.png",
        "--to",
        str(tmp_path / "out"),
        "--store",
        uri,
    )
    assert got.code == 0, got.err
    assert (tmp_path / "out" / "plots" / "loss.png").read_bytes() == data


def test_get_refuses_a_corrupted_artifact_and_writes_nothing(tmp_path: Path) -> None:
    """A stored file whose bytes changed fails the digest check: exit 2, no file written."""
    uri = f"sqlite:///{tmp_path / 's.db'}"
    trial = logged(uri, {"model.ckpt": b"weights" * 1000})
    sha = hashlib.sha256(b"weights" * 1000).hexdigest()
    (tmp_path / "s.db.artifacts" / sha[:2] / sha[2:]).write_bytes(b"tampered")
    got = track(
        "artifacts", "get", trial.uid, "model.ckpt", "--to", str(tmp_path / "out"), "--store", uri
    )
    assert got.code == 2
    assert "sha256" in got.err
    assert list((tmp_path / "out").iterdir()) == []


def test_get_refuses_a_name_that_leaves_the_folder(tmp_path: Path) -> None:
    """An artifact named ../x is not written outside --to."""
    uri = f"sqlite:///{tmp_path / 's.db'}"
    trial = logged(uri, {"../escape": b"x"})
    got = track(
        "artifacts", "get", trial.uid, "../escape", "--to", str(tmp_path / "out"), "--store", uri
    )
    assert got.code == 2
    assert not (tmp_path / "escape").exists()
