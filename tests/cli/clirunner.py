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


def run(
    command: list[str],
    tty: bool = False,
    env: dict[str, str] | None = None,
    stderr_tty: bool = False,
) -> Result:
    """Run ``command`` with stdout (``tty``) or stderr (``stderr_tty``) on a pseudo-terminal and
    the other stream piped; both piped when neither is asked for."""
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    if not (tty or stderr_tty):
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        return Result(done.returncode, done.stdout, done.stderr)
    master, slave = pty.openpty()
    piped = subprocess.PIPE
    process = subprocess.Popen(
        command,
        stdout=piped if stderr_tty else slave,
        stderr=slave if stderr_tty else piped,
        env=environment,
    )
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
    other = (process.stdout if stderr_tty else process.stderr).read().decode()
    on_tty = b"".join(chunks).decode(errors="replace")
    code = process.wait(timeout=10)
    return Result(code, other, on_tty) if stderr_tty else Result(code, on_tty, other)
