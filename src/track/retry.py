"""Retry an action with exponential backoff while its errors are transient.

One policy for the places that retry: the write pipeline's flusher (a store write, forever
until the pipeline closes), the SQL store (a locked database or a serialization failure, until
a deadline) and the server client (a reconnection, for ``timeout`` seconds). Each says which
errors are transient, how long to wait (``initial`` doubling up to ``maximum``, optionally with
jitter, and at least what an error asks for through ``min_wait``) and when to give up; giving
up raises the last error unchanged, so the caller decides what it means.

``sleep``, ``clock`` and ``rand`` are injectable so that tests run on a scripted clock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["retry"]

T = TypeVar("T")


def retry(
    action: Callable[[], T],
    *,
    transient: Callable[[Exception], bool],
    initial: float,
    maximum: float,
    jitter: float = 0.0,
    timeout: float | None = None,
    stop: Callable[[], bool] | None = None,
    min_wait: Callable[[Exception], float] | None = None,
    on_failure: Callable[[Exception, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> T:
    """Return ``action()``, calling it again after each transient failure until one succeeds.

    An error for which ``transient(error)`` is false is raised at once. After a transient one,
    ``on_failure(error, failures)`` is called (``failures`` counts them, from 1: for logging),
    then the last error is raised if ``stop()`` is true or ``timeout`` seconds have passed
    since the first failure; otherwise the call waits and tries again. Without ``timeout`` and
    ``stop`` it retries forever.

    The n-th wait is ``min(initial * 2 ** (n - 1), maximum)``, lengthened by a random fraction
    of up to ``jitter`` of itself, at least ``min_wait(error)`` (a server's "retry after"), and
    never past the timeout.
    """
    delay = initial
    failures = 0
    deadline: float | None = None
    while True:
        try:
            return action()
        except Exception as error:
            if not transient(error):
                raise
            now = clock()
            if deadline is None and timeout is not None:
                deadline = now + timeout
            failures += 1
            if on_failure is not None:
                on_failure(error, failures)
            if (stop is not None and stop()) or (deadline is not None and now >= deadline):
                raise
            wait = delay * (1 + jitter * rand())
            if min_wait is not None:
                wait = max(wait, min_wait(error))
            if deadline is not None:
                wait = min(wait, deadline - now)
            sleep(wait)
            delay = min(delay * 2, maximum)
