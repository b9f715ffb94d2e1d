"""The one thread that owns the server's store: every call runs here, writes are group-committed.

The event loop never touches the store. It submits calls to :class:`StoreWorker`, which runs
them in arrival order on its own thread; after each group of queued calls that wrote something
it calls ``store.commit()`` once, and only then resolves the callers' futures. So a client is
acknowledged only after its batch is applied *and* committed, and many clients' small batches
share one commit.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from track.persistence.protocol import Protocol

__all__ = ["READS", "WRITES", "StoreWorker"]

log = logging.getLogger("track.server")

#: Protocol methods a client may call that only read.
READS = frozenset(
    {
        "get_project",
        "get_trial_group",
        "get_trial",
        "get_trial_metrics",
        "get_trial_series",
        "get_series_previews",
        "fetch_trials",
        "fetch_summaries",
        "fetch_groups",
        "fetch_projects",
    }
)
#: Protocol methods a client may call that write (their replies are cached for resends).
WRITES = frozenset(
    {
        "log_trial_batch",
        "log_trial_arguments",
        "new_project",
        "new_trial_group",
        "add_project_trial",
        "add_group_trial",
        "set_group_metadata",
        "new_trial",
        "fetch_and_update_trial",
        "fetch_and_update_group",
        "fetch_and_update_once",
        "delete_trials",
        "delete_group",
        "delete_project",
        "set_trial_display",
        "remove_trial_tags",
        "commit",
    }
)
GROUP_LIMIT = 512


@dataclass(frozen=True)
class _Call:
    """A job queued by the server itself (:meth:`StoreWorker.call`) rather than by name."""

    function: Callable[..., Any]
    write: bool


def _writes(name: str | _Call) -> bool:
    return name.write if isinstance(name, _Call) else name in WRITES


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class StoreWorker:
    """Runs store calls on one thread, committing after each group of writes."""

    def __init__(self, store: Protocol) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="track-store", daemon=True)
        self._thread.start()

    def submit(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        """Queue ``store.<name>(*args, **kwargs)``; the future holds its result."""
        if name not in READS and name not in WRITES:
            raise ValueError(f"{name!r} is not a callable store method")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((loop, future, name, args, kwargs))
        return future

    def call(
        self, function: Callable[..., Any], args: list[Any], write: bool = False
    ) -> asyncio.Future[Any]:
        """Queue ``function(*args)`` on the store thread (for the server's own use, not a client's).

        The artifact requests (:mod:`track.server.transfers`) run the store's artifact methods
        with arguments the server built; ``write`` makes the group commit after it.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((loop, future, _Call(function, write), args, {}))
        return future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            while len(jobs) < GROUP_LIMIT:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)
                    break
                jobs.append(job)
            self._apply(jobs)

    def _apply(self, jobs: list[Any]) -> None:
        results = []
        wrote = False
        for _, _, name, args, kwargs in jobs:
            try:
                # ``name`` is one of READS/WRITES (submit() refused any other) or a server _Call
                target = name.function if isinstance(name, _Call) else getattr(self.store, name)
                results.append((True, target(*args, **kwargs)))
                wrote = wrote or _writes(name)
            except Exception as error:  # the store's refusal goes back to the caller
                results.append((False, error))
        if wrote:
            try:
                self.store.commit()
            except Exception as error:  # nothing is acknowledged that was not committed
                log.error("store commit failed: %s: %s", type(error).__name__, error)
                results = [
                    (False, error) if _writes(name) else result
                    for (_, _, name, _, _), result in zip(jobs, results, strict=True)
                ]
        for (loop, future, *_), (ok, value) in zip(jobs, results, strict=True):
            loop.call_soon_threadsafe(_resolve, future, ok, value)

    def close(self) -> None:
        """Finish queued calls, commit and close the store."""
        self._queue.put(None)
        self._thread.join()
        try:
            self.store.commit()
        finally:
            self.store.close()
