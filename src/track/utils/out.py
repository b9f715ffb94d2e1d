"""Text stream wrapper remembering the last lines written (e.g. to attach to a crashed trial)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from track.containers.ring import RingBuffer


class RingOutputDecorator:
    """Write through to ``file`` (default ``sys.stdout``) and keep its last ``n_entries`` lines.

    It can replace ``sys.stdout``/``sys.stderr`` so that the tail of a program's output
    is available in memory, e.g. to store alongside a trial that failed. Only complete
    lines (terminated by ``\\n``) are kept; a trailing partial line waits for its end.
    Safe to use from several threads.
    """

    def __init__(self, file: TextIO | None = None, n_entries: int = 50) -> None:
        self.file = file if file is not None else sys.stdout
        self._lines = RingBuffer(n_entries, str)
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, string: str) -> int:
        """Write ``string`` to the wrapped file and record the lines it completes."""
        with self._lock:
            written = self.file.write(string)
            *complete, self._partial = (self._partial + string).split("\n")
            for line in complete:
                self._lines.append(line)
        return written if written is not None else len(string)

    def flush(self) -> None:
        """Flush the wrapped file."""
        self.file.flush()

    def output(self) -> list[str]:
        """Return the kept lines, oldest first, without their newline."""
        with self._lock:
            return self._lines.to_list()

    def raw(self) -> str:
        """Return the kept lines as the text that was written (each ending with a newline)."""
        return "".join(f"{line}\n" for line in self.output())

    def out(self) -> TextIO:
        """Return the wrapped file."""
        return self.file

    def isatty(self) -> bool:
        """Tell whether the wrapped file is a terminal."""
        return self.file.isatty()

    def fileno(self) -> int:
        """Return the wrapped file's descriptor."""
        return self.file.fileno()

    def writable(self) -> bool:
        """A decorator only exists to be written to."""
        return True

    @property
    def encoding(self) -> str:
        """Encoding of the wrapped file."""
        return getattr(self.file, "encoding", "utf-8")
