"""Run the real ``track`` console script, its stdout piped or on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import time
from dataclasses import dataclass

TRACK = shutil.which("track") or "track"


@dataclass
class Result:
    """What a command printed and how it exited."""

    code: int
    out: str
    err: str


def track(*args: str, tty: bool = False, env: dict[str, str] | None = None) -> Result:
    """Run ``track ARGS``: stdout piped, or a pseudo-terminal when ``tty`` (stderr always piped)."""
    return run([TRACK, *args], tty=tty, env=env)


def run(command: list[str], tty: bool = False, env: dict[str, str] | None = None) -> Result:
    """Run ``command``: stdout piped, or a pseudo-terminal when ``tty`` (stderr always piped)."""
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    if not tty:
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        return Result(done.returncode, done.stdout, done.stderr)
    master, slave = pty.openpty()
    process = subprocess.Popen(command, stdout=slave, stderr=subprocess.PIPE, env=environment)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(master)
    err = process.stderr.read().decode()
    return Result(process.wait(timeout=10), b"".join(chunks).decode(errors="replace"), err)
