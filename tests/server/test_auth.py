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


def test_throttle_penalty_doubles_then_caps_and_outlives_a_success() -> None:
    """Each failure from one address sets a penalty of 0.25, 0.5, 1 ... up to 5 s; other
    addresses are unaffected, and only time (not a success) forgets the count."""
    throttle = FailureThrottle()
    penalties = [throttle.failed("1.2.3.4") for _ in range(7)]
    assert penalties == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert 0 < throttle.penalty("1.2.3.4") <= 5.0
    assert throttle.penalty("5.6.7.8") == 0.0
    forgetful = FailureThrottle(forget_after=-1.0)
    assert [forgetful.failed("1.2.3.4") for _ in range(3)] == [0.25, 0.25, 0.25]


def test_throttle_table_is_bounded() -> None:
    """Past max_addresses the oldest address is forgotten (memory cannot grow without bound)."""
    throttle = FailureThrottle(max_addresses=3)
    for address in ("a", "b", "c", "d"):
        throttle.failed(address)
    assert throttle.penalty("a") == 0.0 and throttle.penalty("d") > 0
