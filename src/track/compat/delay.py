"""Deferred calls: build a call now, evaluate it (once) later, possibly from another thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from track.errors import TrackError


class FutureIsNotReady(TrackError):
    """Raised when reading a ``Future`` whose call has not been evaluated yet."""


class DelayedCall:
    """Delay a call until later; the first evaluation is cached and reused.

    Lets a caller prepare an expensive or order-dependent call (arguments may still be
    added) and have it run only when its result is needed. Evaluation is thread safe:
    concurrent callers wait for a single evaluation.
    """

    def __init__(self, fun: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self.fun = fun
        self.kwargs = dict(kwargs)
        self._result: Any = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    def add_arguments(self, **kwargs: Any) -> None:
        """Add or replace keyword arguments of the pending call."""
        if self._done.is_set():
            raise RuntimeError("cannot add arguments to a call that was already evaluated")
        self.kwargs.update(kwargs)

    def get(self) -> Any:
        """Evaluate the call on first use and return its (cached) result."""
        return self()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Evaluate ``fun(*args, **stored_kwargs, **kwargs)`` once and return the cached result.

        Keywords given here complete (or replace, as with ``functools.partial``) the stored
        ones. Once the call was evaluated, new arguments raise: they could not be honoured.
        """
        with self._lock:
            if not self._done.is_set():
                self.kwargs.update(kwargs)
                self._result = self.fun(*args, **self.kwargs)
                self._done.set()
            elif args or kwargs:
                raise RuntimeError(
                    "cannot pass arguments to a call that was already evaluated "
                    f"(args={args!r}, kwargs={kwargs!r})"
                )
        return self._result

    def is_ready(self) -> bool:
        """Tell whether the call was already evaluated."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until someone evaluated the call or ``timeout`` seconds passed; True if done."""
        return self._done.wait(timeout)

    def get_future(self) -> Future:
        """Return a read-only handle on the result that never triggers the evaluation."""
        return Future(self)


class Future:
    """Read-only view on a ``DelayedCall`` result, available once somebody evaluated it."""

    def __init__(self, promise: DelayedCall) -> None:
        self.promise = promise

    def is_ready(self) -> bool:
        """Tell whether the result is available."""
        return self.promise.is_ready()

    def get(self) -> Any:
        """Return the result, or raise ``FutureIsNotReady`` when it was not computed yet."""
        if not self.promise.is_ready():
            raise FutureIsNotReady("the delayed call was not evaluated yet")
        return self.promise.get()

    def wait(self, timeout: float | None = None) -> Any:
        """Wait up to ``timeout`` seconds for the result and return it (``FutureIsNotReady``
        if it is still missing)."""
        self.promise.wait(timeout)
        return self.get()


def delay_call(fun: Callable[..., Any], **kwargs: Any) -> DelayedCall:
    """Build a ``DelayedCall`` of ``fun`` with ``kwargs``."""
    return DelayedCall(fun, kwargs)


def is_delayed_call(obj: Any) -> bool:
    """Tell whether ``obj`` is a ``DelayedCall``."""
    return isinstance(obj, DelayedCall)
