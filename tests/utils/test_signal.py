"""SignalHandler with real signals."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from track.utils.signal import SignalHandler

SRC = str(Path(__file__).resolve().parents[2] / "src")

CHILD = """
import sys, time
from track.utils.signal import SignalHandler

marker = sys.argv[1]

class Handler(SignalHandler):
    def sigterm(self, signum, frame):
        with open(marker, "w") as f:
            f.write(f"sigterm {signum}")

    def atexit(self):
        with open(marker + ".exit", "w") as f:
            f.write("atexit")

handler = Handler()
print("ready", flush=True)
# Short sleeps, not one long one: a signal landing between the print and a blocking sleep
# only runs its Python handler once the sleep returns (the interpreter checks for signals
# between bytecodes, and the sleep is not interrupted by a signal already taken).
for _ in range(3000):
    time.sleep(0.01)
"""


class Recording(SignalHandler):
    """Handler remembering which hooks ran."""

    def __init__(self):
        self.seen = []
        super().__init__()

    def sigterm(self, signum, frame):
        self.seen.append(("sigterm", signum))

    def sigint(self, signum, frame):
        self.seen.append(("sigint", signum))


@pytest.fixture
def saved_handlers():
    """Put back the test process's SIGTERM/SIGINT handlers whatever the test did."""
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_sigterm_in_subprocess_runs_hook_and_exits_143(tmp_path):
    """A process killed with SIGTERM runs its sigterm and atexit overrides then exits 143."""
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(marker)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM == 143
    finally:
        proc.kill()
        proc.stdout.close()

    assert marker.read_text() == f"sigterm {int(signal.SIGTERM)}"
    assert Path(f"{marker}.exit").read_text() == "atexit"


def test_chains_to_previous_python_handler(saved_handlers):
    """After its own hook, the previous Python handler still receives the signal."""
    previous_calls = []
    signal.signal(signal.SIGTERM, lambda signum, frame: previous_calls.append(signum))

    handler = Recording()
    signal.raise_signal(signal.SIGTERM)
    assert handler.seen == [("sigterm", signal.SIGTERM)]
    assert previous_calls == [signal.SIGTERM]
    handler.restore()


def test_default_sigint_raises_keyboard_interrupt(saved_handlers):
    """With the default SIGINT action, the handler raises KeyboardInterrupt after its hook."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    handler = Recording()
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert handler.seen == [("sigint", signal.SIGINT)]
    handler.restore()


def test_default_sigterm_raises_system_exit(saved_handlers):
    """With the default SIGTERM action, the handler raises SystemExit(143)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    handler = Recording()
    with pytest.raises(SystemExit) as info:
        signal.raise_signal(signal.SIGTERM)
    assert info.value.code == 143
    handler.restore()


def test_ignored_signal_stays_ignored(saved_handlers):
    """A signal the process ignores (nohup, a background job) stays ignored: no hook runs."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    handler = Recording()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    signal.raise_signal(signal.SIGTERM)
    assert handler.seen == []
    handler.restore()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


def test_restore_reinstalls_previous_handlers(saved_handlers):
    """restore() puts back the handlers that were active before construction."""

    def previous(signum, frame):
        """Placeholder handler."""

    signal.signal(signal.SIGTERM, previous)
    handler = Recording()
    assert signal.getsignal(signal.SIGTERM) != previous
    handler.restore()
    assert signal.getsignal(signal.SIGTERM) is previous


def test_off_main_thread_skips_signals(saved_handlers):
    """Built in a worker thread it installs no signal handler and raises nothing."""
    before = signal.getsignal(signal.SIGTERM)
    errors = []
    created = []

    def build():
        try:
            created.append(Recording())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=build)
    worker.start()
    worker.join()

    assert errors == []
    assert signal.getsignal(signal.SIGTERM) is before
    created[0].restore()
