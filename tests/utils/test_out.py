"""RingOutputDecorator capturing real streams."""

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from track.utils.out import RingOutputDecorator

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_writes_through_and_keeps_last_lines():
    """Everything reaches the wrapped stream while only the last n lines are kept."""
    sink = io.StringIO()
    out = RingOutputDecorator(sink, n_entries=3)
    for i in range(6):
        print(f"line {i}", file=out)

    assert sink.getvalue() == "".join(f"line {i}\n" for i in range(6))
    assert out.output() == ["line 3", "line 4", "line 5"]
    assert out.raw() == "line 3\nline 4\nline 5\n"
    assert out.out() is sink


def test_partial_lines_wait_for_newline():
    """Lines split over several writes are kept once complete."""
    sink = io.StringIO()
    out = RingOutputDecorator(sink, n_entries=5)
    out.write("hel")
    out.write("lo\nwor")
    assert out.output() == ["hello"]
    out.write("ld\n\n")
    out.flush()
    assert out.output() == ["hello", "world", ""]


def test_defaults_to_stdout_and_delegates(capsys):
    """Without a file it wraps sys.stdout and exposes its encoding and tty status."""
    out = RingOutputDecorator()
    out.write("to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"
    assert out.isatty() is False
    assert out.encoding == sys.stdout.encoding
    assert out.writable()


def test_threads_do_not_lose_lines():
    """Concurrent whole-line writers all get their lines kept."""
    sink = io.StringIO()
    out = RingOutputDecorator(sink, n_entries=1000)

    def writer(tag):
        for i in range(100):
            out.write(f"{tag}-{i}\n")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(out.output()) == sorted(f"{t}-{i}" for t in range(4) for i in range(100))


def test_replaces_stdout_in_subprocess():
    """A process wrapping its own sys.stdout still prints everything and keeps the tail."""
    script = (
        "import json, sys\n"
        "from track.utils.out import RingOutputDecorator\n"
        "sys.stdout = RingOutputDecorator(sys.stdout, n_entries=2)\n"
        "for i in range(5):\n"
        "    print('row', i)\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write(json.dumps(sys.stdout.output()))\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "".join(f"row {i}\n" for i in range(5))
    assert json.loads(proc.stderr) == ["row 3", "row 4"]
