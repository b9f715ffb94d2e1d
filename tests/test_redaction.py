"""Secrets never leave as text: one redaction function for URIs, free text and command lines."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from server.trackserver import running_server, wait_for
from track.persistence import get_protocol
from track.persistence.socketed import AuthenticationFailed
from track.persistence.utils import parse_uri, redact, redact_argv

SECRET = "p@ss w0rd"  # percent-encoded in a URI: p%40ss%20w0rd
ENCODED = "p%40ss%20w0rd"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("socket://alice:p%40ss@host:8123", "socket://alice:***@host:8123"),
        ("socket://alice:p@ss@host:8123/x@y", "socket://alice:***@host:8123/x@y"),
        ("socket://alice:p#ss@host", "socket://alice:***@host"),
        (
            "postgresql://u:pw@db:5432/runs?sslmode=require&sslpassword=k3y",
            "postgresql://u:***@db:5432/runs?sslmode=require&sslpassword=***",
        ),
        (
            "socket://h:1?security_layer=AES&token=abc&server_key=f00d",
            "socket://h:1?security_layer=AES&token=***&server_key=f00d",
        ),
        (
            "comet://ws/p?api_key=XYZ&offline_directory=/tmp/c",
            "comet://ws/p?api_key=***&offline_directory=/tmp/c",
        ),
        (
            "socket://h:1?backend=postgresql://u:pw@db/runs&secret=s",
            "socket://h:1?backend=postgresql://u:***@db/runs&secret=***",
        ),
        (
            "cannot open postgresql://u:pw@db/runs: refused",
            "cannot open postgresql://u:***@db/runs: refused",
        ),
        ("sqlite:///runs.db?timeout=5", "sqlite:///runs.db?timeout=5"),
        ("http://host:8080/path@foo", "http://host:8080/path@foo"),
        ("socket://alice@host:1?password_file=~/pw", "socket://alice@host:1?password_file=~/pw"),
    ],
)
def test_redact_hides_passwords_and_secret_options(text: str, shown: str) -> None:
    """URI passwords (encoded or not) and secret-named options become ***, the rest stays."""
    assert redact(text) == shown


def test_percent_encoded_password_is_hidden_by_uri_redacted() -> None:
    """``URI.redacted()`` and ``repr`` hide a percent-encoded password (the old replace did not)."""
    uri = parse_uri(f"socket://alice:{ENCODED}@host:8123?security_layer=AES&access_token=t0k")
    assert uri.password == SECRET
    for text in (uri.redacted(), repr(uri)):
        assert ENCODED not in text and SECRET not in text and "t0k" not in text
    assert uri.redacted() == "socket://alice:***@host:8123?security_layer=AES&access_token=***"


def test_unparsable_uri_error_hides_the_password() -> None:
    """A URI that fails to parse (a raw ``/`` in the password) is refused without echoing it."""
    with pytest.raises(ValueError) as error:
        parse_uri("socket://alice:pa/ss@host:8123")
    assert "pa/ss" not in str(error.value) and "ss@" not in str(error.value)


def test_redact_argv_hides_flag_pairs_and_embedded_uris() -> None:
    """``--password X``, ``--token=X``, ``key=X`` and URIs inside items are hidden; the rest kept."""
    argv = [
        "train.py",
        "--store=postgresql://u:pw1@db/runs",
        "--password",
        "pw2",
        "--api-key=pw3",
        "--token",
        "pw4",
        "db.password=pw5",
        "--no-auth",
        "--lr",
        "0.1",
        "socket://a:pw6@h:1?security_layer=AES",
    ]
    hidden = redact_argv(argv)
    assert hidden == [
        "train.py",
        "--store=postgresql://u:***@db/runs",
        "--password",
        "***",
        "--api-key=***",
        "--token",
        "***",
        "db.password=***",
        "--no-auth",
        "--lr",
        "0.1",
        "socket://a:***@h:1?security_layer=AES",
    ]


def test_password_file_option_fills_the_password(tmp_path: Path) -> None:
    """``password_file=`` gives the URI its password; a missing file or both at once is an error."""
    secret = tmp_path / "pw"
    secret.write_text(SECRET + "\n")
    uri = parse_uri(f"postgresql://u@db/runs?password_file={secret}")
    assert uri.password == SECRET and SECRET not in uri.redacted()
    with pytest.raises(ValueError, match="cannot read"):
        parse_uri(f"socket://u@h:1?password_file={tmp_path / 'missing'}")
    with pytest.raises(ValueError, match="keep one") as error:
        parse_uri(f"socket://u:{ENCODED}@h:1?password_file={secret}")
    assert ENCODED not in str(error.value)


# ---- the leaks, end to end ---------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def password_server(tmp_path: Path):
    """A real AES ``track serve`` whose user ``alice`` has a password with ``@`` and a space."""
    folder = tmp_path / "srv"
    folder.mkdir()
    with running_server(folder, f"file://{folder / 'store.json'}", users={"alice": SECRET}) as s:
        yield s


def test_track_ui_shows_no_password(password_server, tmp_path: Path) -> None:
    """``track ui`` on a password URI: its output, ``/api/info`` (the page title) and ``/`` hide it."""
    uri = password_server.uri(user="alice", password=ENCODED, access_token="tok3n")
    port = free_port()
    command = [sys.executable, "-m", "track.cli", "ui", "--store", uri, "--port", str(port)]
    log = tmp_path / "ui.out"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"

        def fetch(path: str) -> str | None:
            if process.poll() is not None:
                raise RuntimeError(f"track ui exited:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(base + path, timeout=2) as answer:
                    return answer.read().decode()
            except OSError:
                return None

        info = json.loads(wait_for(lambda: fetch("/api/info"), 30, "track ui"))
        page = fetch("/")
    finally:
        process.terminate()
        process.wait(10)
    printed = log.read_text()
    assert "serving socket://alice:***@127.0.0.1" in printed
    assert info["title"].startswith("socket://alice:***@127.0.0.1")
    assert "access_token=***" in info["title"]
    for shown in (printed, json.dumps(info), page or ""):
        for secret in (ENCODED, SECRET, "p@ss", "tok3n"):
            assert secret not in shown


def test_cli_errors_show_no_password() -> None:
    """A store that cannot be opened is named in the error with its secrets hidden."""
    for uri in (
        f"postgresql://u:{ENCODED}@127.0.0.1:1/db?token=tok3n",  # nothing listens on port 1
        f"socket://u:{ENCODED}@127.0.0.1?security_layer=AES&token=tok3n",  # no port
    ):
        done = subprocess.run(
            [sys.executable, "-m", "track.cli", "ls", "--store", uri],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2
        assert "u:***@127.0.0.1" in done.stderr and "token=***" in done.stderr
        for secret in (ENCODED, SECRET, "tok3n"):
            assert secret not in done.stderr + done.stdout


def test_track_serve_logs_its_store_without_password(fresh_postgres, tmp_path: Path) -> None:
    """``track serve --store postgresql://u:pw@...`` names its store in the log with pw hidden."""
    with fresh_postgres() as base:
        user, rest = base.split("://", 1)[1].split("@", 1)
        store = f"postgresql://{user}:{ENCODED}@{rest}"
        with running_server(tmp_path, store) as server:
            log = server.log()
    assert f"store postgresql://{user}:***@{rest.split('?')[0]}" in log
    assert ENCODED not in log and SECRET not in log


SCRIPT = """
import sys
from track import TrackClient
client = TrackClient(sys.argv[1], system_metrics_interval=0)
trial = client.new_trial(name="argv")
with trial:
    pass
print(trial.trial.uid)
client.close()
"""


def test_argv_in_trial_metadata_is_redacted(tmp_path: Path) -> None:
    """A real script run with secrets on its command line stores its argv with them hidden."""
    store = f"file://{tmp_path / 'store.json'}"
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    secrets = ["pw1", "pw2", "pw3", "pw4"]
    argv = [
        store,
        "--store=postgresql://u:pw1@db/runs",
        "--password",
        "pw2",
        "--token=pw3",
        "socket://a:pw4@h:1",
        "--epochs",
        "3",
    ]
    done = subprocess.run(
        [sys.executable, str(script), *argv], capture_output=True, text=True, check=True
    )
    [trial] = [t for t in get_protocol(store).fetch_trials(None) if t.uid == done.stdout.strip()]
    recorded = trial.metadata["environment"]["argv"]
    assert recorded == [
        str(script),
        store,
        "--store=postgresql://u:***@db/runs",
        "--password",
        "***",
        "--token=***",
        "socket://a:***@h:1",
        "--epochs",
        "3",
    ]
    text = json.dumps(trial.metadata)
    assert not any(secret in text for secret in secrets)


# ---- credentials outside the URI ---------------------------------------------------------


def test_password_from_environment_variable(password_server, monkeypatch) -> None:
    """``TRACK_PASSWORD`` logs a URI without a password in; a wrong one is refused."""
    uri = password_server.uri(user="alice", password=None)
    with pytest.raises(AuthenticationFailed):
        get_protocol(uri)
    monkeypatch.setenv("TRACK_PASSWORD", "wrong")
    with pytest.raises(AuthenticationFailed):
        get_protocol(uri)
    monkeypatch.setenv("TRACK_PASSWORD", SECRET)
    store = get_protocol(uri)
    assert store.fetch_projects(None) == []
    store.close()


def test_password_from_file_variable_and_uri_option(password_server, tmp_path, monkeypatch) -> None:
    """``TRACK_PASSWORD_FILE`` and ``?password_file=`` log in with the file's content."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text(SECRET + "\n")
    bad.write_text("nope\n")
    uri = password_server.uri(user="alice", password=None)
    monkeypatch.setenv("TRACK_PASSWORD_FILE", str(bad))
    with pytest.raises(AuthenticationFailed):
        get_protocol(uri)
    monkeypatch.setenv("TRACK_PASSWORD_FILE", str(good))
    get_protocol(uri).close()
    monkeypatch.delenv("TRACK_PASSWORD_FILE")
    with pytest.raises(AuthenticationFailed):
        get_protocol(password_server.uri(user="alice", password=None, password_file=str(bad)))
    store = get_protocol(password_server.uri(user="alice", password=None, password_file=str(good)))
    assert store.fetch_projects(None) == []
    store.close()
    assert SECRET not in password_server.log()


def test_password_file_variable_unreadable_is_an_error(
    password_server, tmp_path, monkeypatch
) -> None:
    """A ``TRACK_PASSWORD_FILE`` that cannot be read is a clear error, not an empty password."""
    monkeypatch.setenv("TRACK_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="TRACK_PASSWORD_FILE"):
        get_protocol(password_server.uri(user="alice", password=None))
