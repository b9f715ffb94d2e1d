"""Base class reacting to SIGTERM, SIGINT and interpreter exit (e.g. to save a trial's state)."""

from __future__ import annotations

import atexit
import signal
import threading
from types import FrameType
from typing import Any


class SignalHandler:
    """Install handlers for SIGTERM, SIGINT and an atexit hook; subclasses override
    ``sigterm``, ``sigint`` and ``atexit`` to save state before the process goes away.

    Signal handlers can only be installed from the main thread; elsewhere that part is
    skipped silently and only the atexit hook is registered. A signal the process already
    ignores (started under ``nohup`` or as a background job) is left ignored. After the
    subclass hook ran, the previously installed handler is called so that existing
    behaviour is kept; when it was the default action, SIGINT raises ``KeyboardInterrupt``
    and SIGTERM raises ``SystemExit(128 + signum)`` (exit code 143, like the shell).
    """

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                # A signal the process was started ignoring (nohup, a background job) stays
                # ignored: the parent chose that, and the run must not react to it.
                if signal.getsignal(signum) != signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._on_signal)
        atexit.register(self.atexit)

    def sigterm(self, signum: int, frame: FrameType | None) -> None:
        """Called on SIGTERM, before the previous handler; override to react."""

    def sigint(self, signum: int, frame: FrameType | None) -> None:
        """Called on SIGINT (Ctrl+C), before the previous handler; override to react."""

    def atexit(self) -> None:
        """Called when the interpreter exits; override to react."""

    def restore(self) -> None:
        """Reinstall the handlers found at construction and unregister the atexit hook."""
        for signum, previous in self._previous.items():
            if previous is not None:
                signal.signal(signum, previous)
        self._previous = {}
        atexit.unregister(self.atexit)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Dispatch to the subclass hook then chain to the previous handler."""
        if signum == signal.SIGTERM:
            self.sigterm(signum, frame)
        else:
            self.sigint(signum, frame)

        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            raise SystemExit(128 + signum)
