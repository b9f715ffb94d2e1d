"""A custom store written the seeds' way (LocalStorage + make_lock + lock decorators), run as a
process by the compat tests: ``python seed_store_worker.py MODE PATH ARG``.

Modes: ``increment PATH N`` adds 1 to the project's ``count`` metadata N times, each a
read-modify-write under ``@lock_write``, once it read a line (so that workers start together); ``touch PATH UID`` logs ``other=1`` on a trial through
track's own file store; ``hold PATH`` takes the store's MultiLock, installs a LockFileRemover and
a SIGTERM handler that keeps the process alive, says ``held``, and waits for stdin to close.
"""

from __future__ import annotations

import select
import signal
import sys
from typing import Any

from track.persistence.local import (
    FileProtocol,
    LockFileRemover,
    MultiLock,
    lock_atomic_write,
    lock_read,
    lock_write,
    make_lock,
)
from track.persistence.storage import load_database
from track.structure import Trial


class CounterStore:
    """A store keeping counters in its project's metadata, safe for several processes."""

    def __init__(self, path: str) -> None:
        self.storage = load_database(path)
        self.lock = make_lock(path, eager=True)

    def _project(self) -> Any:
        return self.storage.objects[self.storage.project_names["p"]]

    @lock_write
    def increment(self, name: str) -> None:
        """Add one to a counter (read, then write: safe only under the lock)."""
        project = self._project()
        project.metadata[name] = project.metadata.get(name, 0) + 1

    @lock_read
    def count(self, name: str) -> int:
        """The counter's value in the store."""
        return int(self._project().metadata.get(name, 0))

    @lock_write
    def note(self, uid: str, key: str, value: Any) -> None:
        """Set a trial's metadata key, on fresh data."""
        self.storage.objects[uid].metadata[key] = value

    @lock_atomic_write
    def note_atomically(self, uid: str, key: str, value: Any) -> None:
        """Set a trial's metadata key on the data loaded last, or raise ConcurrentWrite."""
        self.storage.objects[uid].metadata[key] = value


def main() -> None:
    """Run one mode (see the module docstring)."""
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "increment":
        store = CounterStore(path)
        sys.stdin.readline()
        for _ in range(int(sys.argv[3])):
            store.increment("count")
    elif mode == "touch":
        files = FileProtocol(f"file://{path}")
        hash_, revision = sys.argv[3].rsplit("_", 1)
        files.log_trial_metadata(Trial(_hash=hash_, revision=int(revision)), other=1)
        files.close()
    elif mode == "hold":
        signal.signal(signal.SIGTERM, lambda signum, frame: print("term", flush=True))
        MultiLock(path).acquire()
        LockFileRemover(path)
        print("held", flush=True)
        # 10 ms slices, so SIGTERM's handler runs even if it lands just before a blocking read.
        while not select.select([sys.stdin], [], [], 0.01)[0]:
            pass


if __name__ == "__main__":
    main()
