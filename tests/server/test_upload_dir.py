"""The server's folder of uploads in progress: ``track serve --upload-dir``, and a folder that
others could read or replace refused before the server starts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from optional import require
from track.errors import ConfigurationError
from track.server.transfers import private_folder
from track.structure import Trial


def test_track_serve_keeps_uploads_in_progress_in_upload_dir(tmp_path: Path) -> None:
    """`--upload-dir` makes a private folder, an unfinished upload waits there, and finishing
    it stores the artifact and empties the folder."""
    require("msgpack", "the server's wire format")
    require("cryptography", "the server's AES layer")
    from server.trackserver import running_server
    from track.server.client import SocketClient

    uploads = tmp_path / "deep" / "uploads"
    store = f"sqlite:///{tmp_path}/s.db"
    with running_server(tmp_path, store, extra=("--upload-dir", str(uploads))) as server:
        assert stat.S_IMODE(uploads.stat().st_mode) == 0o700
        client = SocketClient(server.uri())
        try:
            trial = Trial(name="uploads", parameters={"x": 1})
            client.new_trial(trial)
            client._call("artifact_upload_chunk", "upload-0001", 0, b"first half ", None)
            (part,) = uploads.iterdir()
            assert part.read_bytes() == b"first half "
            assert client._call("artifact_upload_status", "upload-0001") == len(b"first half ")
            source = tmp_path / "model.bin"
            source.write_bytes(b"weights" * 1000)
            client.put_artifact(trial, "model.bin", str(source))
            assert [info.name for info in client.list_artifacts(trial)] == ["model.bin"]
            assert list(uploads.iterdir()) == [part], "only the unfinished upload may stay"
        finally:
            client.close()


def test_track_serve_refuses_an_upload_dir_open_to_others(tmp_path: Path) -> None:
    """A folder with group or world permissions stops `track serve` before it listens, with the
    folder and the fix named; the store is not created."""
    require("msgpack", "the server's wire format")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    uploads.chmod(0o777)
    command = [
        sys.executable, "-m", "track.cli", "serve", "--store", f"sqlite:///{tmp_path}/s.db",
        "--port", "0", "--security-layer", "none", "--upload-dir", str(uploads),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"the upload folder {uploads} is open to its group or to everyone" in done.stderr
    assert "(mode 0777)" in done.stderr and "chmod 700" in done.stderr
    assert "listening" not in done.stderr
    assert not (tmp_path / "s.db").exists()


def test_private_folder_makes_a_missing_folder_0700(tmp_path: Path) -> None:
    """A missing folder (and its parents) is made, readable by this user only."""
    path = tmp_path / "a" / "b"
    assert private_folder(str(path)) == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_private_folder_accepts_an_existing_private_folder(tmp_path: Path) -> None:
    """An existing folder of this user with mode 0700 is used as it is."""
    path = tmp_path / "mine"
    path.mkdir(mode=0o700)
    (path / "kept.part").write_bytes(b"x")
    assert private_folder(str(path)) == str(path)
    assert (path / "kept.part").read_bytes() == b"x"


def test_private_folder_refuses_a_symlink(tmp_path: Path) -> None:
    """A symlink is refused even when it points at a private folder: whoever made the link in
    a shared temp folder chooses where the uploads go."""
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError, match="is not a directory"):
        private_folder(str(link))


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o1777])
def test_private_folder_refuses_group_or_world_access(tmp_path: Path, mode: int) -> None:
    """Any permission for the group or others is refused, and the message gives the mode."""
    path = tmp_path / "open"
    path.mkdir()
    path.chmod(mode)
    with pytest.raises(ConfigurationError, match=f"mode {stat.S_IMODE(mode):04o}"):
        private_folder(str(path))


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_private_folder_refuses_a_folder_of_another_user(tmp_path: Path) -> None:
    """A 0700 folder made first by another user (as anyone can in /tmp) is refused."""
    path = tmp_path / "theirs"
    path.mkdir(mode=0o700)
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigurationError, match="belongs to uid 65534"):
        private_folder(str(path))
