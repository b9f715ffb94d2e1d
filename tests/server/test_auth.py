"""Server users: scrypt hashes in a TOML file or the environment, and failure throttling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from track.server.auth import (
    FailureThrottle,
    check_credentials,
    load_users,
    save_user,
    verify_password,
)


def test_users_file_stores_only_salted_hashes(tmp_path: Path) -> None:
    """`track users add` writes a scrypt hash (never the password) that verifies."""
    path = tmp_path / "users.toml"
    command = [sys.executable, "-m", "track.cli", "users", "add", "alice", "--file", str(path)]
    done = subprocess.run([*command, "--password-stdin"], input="s3cret\n", text=True, check=True)
    assert done.returncode == 0
    text = path.read_text()
    assert "s3cret" not in text and 'alice = "scrypt$' in text
    save_user(str(path), "bob", "s3cret")
    users = load_users(str(path))
    assert users["alice"] != users["bob"]
    assert check_credentials(users, "alice", "s3cret")
    assert not check_credentials(users, "alice", "wrong")
    assert not check_credentials(users, "carol", "s3cret")
    assert not check_credentials(users, "alice", None)


def test_environment_users_and_bad_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACK_SERVER_USERS is read when no file is given; a plain password is refused."""
    save_user(str(tmp_path / "u.toml"), "a", "pw")
    stored = load_users(str(tmp_path / "u.toml"))["a"]
    monkeypatch.setenv("TRACK_SERVER_USERS", f"a={stored}")
    assert verify_password("pw", load_users(None)["a"])
    (tmp_path / "bad.toml").write_text('[users]\na = "plain"\n')
    with pytest.raises(ValueError, match="no scrypt hash"):
        load_users(str(tmp_path / "bad.toml"))
    with pytest.raises(ValueError, match="may only hold"):
        save_user(str(tmp_path / "u.toml"), "bad name", "x")


def test_throttle_doubles_then_caps() -> None:
    """Failures from one address wait 0.25, 0.5, 1 ... up to 5 s; success resets."""
    throttle = FailureThrottle()
    delays = []
    for _ in range(7):
        delays.append(throttle.delay("1.2.3.4"))
        throttle.failed("1.2.3.4")
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    throttle.succeeded("1.2.3.4")
    assert throttle.delay("1.2.3.4") == 0.25
