"""Running the real ``track ui`` for the dashboard tests (a free port, start, wait, stop), and a
subprocess logging to a store while a test watches it live."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: the one user of the login tests, and her password
USER, PASSWORD = "alice", "correct horse battery"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(
    url: str,
    process: subprocess.Popen,
    deadline: float = 20.0,
    context: ssl.SSLContext | None = None,
) -> None:
    """Poll ``url`` until it answers, failing if the server exits or the deadline passes."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"track ui exited: {process.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=context):
                return
        except urllib.error.HTTPError as error:
            error.close()
            return  # it answers (e.g. 401 before a login)
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {deadline}s")


@contextmanager
def running_ui(
    store: str,
    *extra: str,
    scheme: str = "http",
    context: ssl.SSLContext | None = None,
    output: list[str] | None = None,
) -> Iterator[str]:
    """``track ui`` from the real console script on a free loopback port; yields its base URL.

    When ``output`` is given, what the command printed is appended to it once it has stopped.
    """
    port = free_port()
    command = [shutil.which("track") or "track", "ui", "--store", store, "--port", str(port)]
    process = subprocess.Popen([*command, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        wait_until_serving(url + "/api/info", process, context=context)
        yield url
    finally:
        process.terminate()
        stdout, _ = process.communicate(timeout=10)
        if output is not None:
            output.append(stdout.decode())


def get_json(url: str) -> Any:
    """The JSON body of a GET."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


@contextmanager
def live_writer(script: str, store: Path, stop: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``script`` in a subprocess logging to the ``file://`` store ``store`` until ``stop``
    exists (its path is argv[1]); entered once the store file exists (``track ui`` refuses a
    missing store), killed on exit."""
    env = {**os.environ, "TRACK_URI": f"file://{store}"}
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(stop)], env=env, stderr=subprocess.PIPE
    )
    try:
        end = time.monotonic() + 30
        while not store.exists():
            assert writer.poll() is None, writer.stderr.read().decode() if writer.stderr else ""
            assert time.monotonic() < end, f"the writer did not create {store}"
            time.sleep(0.05)
        yield writer
    finally:
        writer.kill()
        writer.wait()
