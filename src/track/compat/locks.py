"""The seeds' locking helpers, over the file store's own locking (``fcntl`` on ``<file>.lock``).

track's ``file://`` store takes an ``fcntl`` lock on ``<file>.lock`` around every transaction:
shared to read, exclusive to write. :class:`MultiLock` is that same lock, so a custom store, or
a tool, that locks a file with it is excluded by (and excludes) track's file stores in other
processes; the kernel drops a killed process's lock, so no lock is ever left to wait on.

The decorators make a custom store safe for several processes the way the seeds' file store
was: ``@lock_read`` / ``@lock_write`` run a method under the store's ``lock``, with its
:class:`~track.persistence.storage.LocalStorage` (``storage``) reloaded before and committed
after; ``@lock_atomic_write`` commits optimistically and raises :class:`ConcurrentWrite` when
another process wrote in between.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import IO, Any, TypeVar

from track.errors import TrackError
from track.persistence.local import FileProtocol
from track.utils.signal import SignalHandler

__all__ = [
    "ConcurrentWrite",
    "LockFileRemover",
    "MultiLock",
    "ThreadLock",
    "lock_atomic_write",
    "lock_guard",
    "lock_read",
    "lock_write",
    "make_lock",
]

F = TypeVar("F", bound=Callable[..., Any])


class ConcurrentWrite(TrackError):
    """A write refused because the store changed after the data it was based on was read.

    Not a :class:`~track.errors.WriteRefused`: applying the change again on the reloaded data
    succeeds, so it is retryable (the write pipeline must not spill it).
    """

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


def _lock_file(obj: str | os.PathLike[str] | FileProtocol) -> str:
    """``<file>.lock`` for a data file's path or a file store."""
    path = obj.path if isinstance(obj, FileProtocol) else os.fspath(obj)
    return os.path.abspath(path) + ".lock"


_registry: dict[str, MultiLock] = {}
_registry_lock = threading.Lock()


class MultiLock:
    """A readers-writer lock on a data file, shared by this process's threads and by processes.

    ``obj`` is the data file (a path) or a file store. Across processes it is ``fcntl.flock``
    on ``<file>.lock``, as track's file store takes it; between this process's threads, a
    condition. There is one per file per process (constructing it again returns the same
    object), because two ``flock`` holders in one process would exclude each other.

    It is re-entrant: a thread holding it may take it again, and a read inside a write is
    fine; a thread holding it to read that asks to write gets a :class:`RuntimeError`
    (upgrading can deadlock two readers). ``with lock:`` holds it to write.
    """

    lock_file: str
    _file: IO[bytes] | None
    _cond: threading.Condition
    _holders: dict[int, int]
    _owner: int | None
    _forced: bool

    def __new__(cls, obj: str | os.PathLike[str] | FileProtocol) -> MultiLock:
        """The process's lock for ``obj``'s file, created at the first request."""
        lock_file = _lock_file(obj)
        with _registry_lock:
            lock = _registry.get(lock_file)
            if lock is None:
                lock = super().__new__(cls)
                lock.lock_file = lock_file
                lock._file = None
                lock._cond = threading.Condition(threading.RLock())
                lock._holders = {}
                lock._owner = None
                lock._forced = False
                _registry[lock_file] = lock
            return lock

    def _flock(self, operation: int) -> None:
        if self._file is None:
            folder = os.path.dirname(self.lock_file)
            os.makedirs(folder, exist_ok=True)
            self._file = open(self.lock_file, "a+b")  # noqa: SIM115 (held for life)
        fcntl.flock(self._file, operation)

    @property
    def owned(self) -> bool:
        """True when the calling thread holds the lock (to read or to write)."""
        with self._cond:
            return threading.get_ident() in self._holders

    def acquire(self, exclusive: bool = True) -> None:
        """Wait for the lock: ``exclusive`` to write, else shared with other readers."""
        me = threading.get_ident()
        with self._cond:
            depth = self._holders.get(me, 0)
            if depth:
                if exclusive and self._owner != me:
                    raise RuntimeError(
                        f"{self.lock_file}: this thread holds the lock to read and cannot "
                        "upgrade it to write; release it first"
                    )
                self._holders[me] = depth + 1
                return
            if exclusive:
                self._cond.wait_for(lambda: not self._holders)
            else:
                self._cond.wait_for(lambda: self._owner is None)
            if not self._holders:
                self._flock(fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                self._forced = False
            self._holders[me] = 1
            if exclusive:
                self._owner = me

    def release(self) -> None:
        """Release one hold of the calling thread (the last one frees the lock)."""
        me = threading.get_ident()
        with self._cond:
            depth = self._holders.get(me, 0)
            if depth == 0:
                if self._forced:  # released for everyone by release_all (at shutdown)
                    return
                raise RuntimeError(f"{self.lock_file}: released by a thread that does not hold it")
            if depth > 1:
                self._holders[me] = depth - 1
                return
            del self._holders[me]
            if self._owner == me:
                self._owner = None
            if not self._holders:
                self._flock(fcntl.LOCK_UN)
            self._cond.notify_all()

    def release_all(self) -> None:
        """Release every hold of every thread of this process at once (for shutdown paths)."""
        with self._cond:
            if self._holders:
                self._holders.clear()
                self._owner = None
                self._forced = True
                self._flock(fcntl.LOCK_UN)
                self._cond.notify_all()

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock shared for the ``with`` block."""
        self.acquire(exclusive=False)
        try:
            yield
        finally:
            self.release()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock exclusively for the ``with`` block."""
        self.acquire(exclusive=True)
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> MultiLock:
        self.acquire(exclusive=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class ThreadLock:
    """The lock of a store used by one process only: its threads take turns, nothing else.

    It has :class:`MultiLock`'s interface; readers take turns too (it is a re-entrant mutex).
    """

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self._depth: dict[int, int] = {}

    @property
    def owned(self) -> bool:
        """True when the calling thread holds the lock."""
        return self._depth.get(threading.get_ident(), 0) > 0

    def acquire(self, exclusive: bool = True) -> None:
        """Wait for the lock (``exclusive`` is accepted for MultiLock's interface: always so)."""
        self._mutex.acquire()
        me = threading.get_ident()
        self._depth[me] = self._depth.get(me, 0) + 1

    def release(self) -> None:
        """Release one hold of the calling thread."""
        me = threading.get_ident()
        depth = self._depth.get(me, 0)
        if depth == 0:
            raise RuntimeError("ThreadLock released by a thread that does not hold it")
        if depth == 1:
            del self._depth[me]
        else:
            self._depth[me] = depth - 1
        self._mutex.release()

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block."""
        with self.write():
            yield

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> ThreadLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def make_lock(name: str | os.PathLike[str], eager: bool) -> MultiLock | ThreadLock:
    """The lock a store on file ``name`` takes around each operation.

    ``eager`` (several processes use the file, as with the file store's ``eager=True``): the
    file store's own :class:`MultiLock`; otherwise a :class:`ThreadLock` for this process only.
    """
    return MultiLock(name) if eager else ThreadLock()


def lock_guard(readonly: bool, atomic: bool = False) -> Callable[[F], F]:
    """Protect a store method with the store's lock; reload its storage before, save it after.

    The decorated method's object has ``lock`` (from :func:`make_lock`) and may have
    ``storage`` (a :class:`~track.persistence.storage.LocalStorage` of the same file). The
    outermost guarded call holds ``lock`` (shared when ``readonly``, else exclusive), reloads
    ``storage`` with new data, runs the method and, unless ``readonly``, commits ``storage``;
    guarded calls made inside it join it.

    ``atomic=True`` commits optimistically instead: the storage is not reloaded first, and the
    commit raises :class:`ConcurrentWrite` when another process wrote after the storage was
    loaded (the storage is then reloaded, so the caller can apply its change again).
    """
    if readonly and atomic:
        raise ValueError("an atomic guard is a write guard (readonly=False)")

    def decorator(fun: F) -> F:
        @functools.wraps(fun)
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            lock = self.lock
            storage = getattr(self, "storage", None)  # documented as optional above
            if lock.owned:
                return fun(self, *args, **kwargs)
            with lock.read() if readonly else lock.write():
                if storage is not None and not atomic:
                    storage.smart_reload()
                result = fun(self, *args, **kwargs)
                if storage is not None and not readonly:
                    storage.commit()
                return result

        return guarded  # type: ignore[return-value]

    return decorator


def lock_read(fun: F) -> F:
    """``lock_guard(readonly=True)``: run ``fun`` under the shared lock on fresh data."""
    return lock_guard(readonly=True)(fun)


def lock_write(fun: F) -> F:
    """``lock_guard(readonly=False)``: run ``fun`` under the exclusive lock, then commit."""
    return lock_guard(readonly=False)(fun)


def lock_atomic_write(fun: F) -> F:
    """``lock_guard(readonly=False, atomic=True)``: commit, or raise :class:`ConcurrentWrite`."""
    return lock_guard(readonly=False, atomic=True)(fun)


class LockFileRemover(SignalHandler):
    """Releases this process's lock on ``filename`` at SIGINT, SIGTERM and exit (seed API).

    The seeds' lock was the lock file's existence, so a killed process left it behind and this
    handler deleted it. track's lock is ``fcntl``: the kernel drops it with the process and an
    unheld lock file blocks no one, while deleting one that other processes have opened would
    let two of them hold "the" lock at once. So :meth:`remove` releases the lock held by this
    process (at once, before the rest of the shutdown runs) and leaves the file in place.
    """

    def __init__(self, filename: str | os.PathLike[str]) -> None:
        self.filename = os.fspath(filename)
        super().__init__()

    def remove(self) -> None:
        """Release every hold this process has on ``filename``'s lock."""
        with _registry_lock:
            lock = _registry.get(_lock_file(self.filename))
        if lock is not None:
            lock.release_all()

    def sigterm(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM, release the lock before the previous handler runs."""
        self.remove()

    def sigint(self, signum: int, frame: FrameType | None) -> None:
        """On SIGINT, release the lock before the previous handler runs."""
        self.remove()

    def atexit(self) -> None:
        """At interpreter exit, release the lock."""
        self.remove()
