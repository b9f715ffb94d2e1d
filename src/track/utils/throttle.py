"""Wrappers limiting how often a function really runs (printing, logging in hot loops)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class Throttler(Generic[R]):
    """Call ``fun`` only on every ``throttle``-th call (calls ``throttle``, ``2 * throttle``...).

    Skipped calls return None. Useful to print progress every N batches.
    """

    def __init__(self, fun: Callable[..., R], throttle: int = 1) -> None:
        if throttle < 1:
            raise ValueError(f"throttle must be >= 1, got {throttle}")
        self.fun = fun
        self.throttle = throttle
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> R | None:
        self.calls += 1
        if self.calls % self.throttle == 0:
            return self.fun(*args, **kwargs)
        return None


class TimeThrottler(Generic[R]):
    """Call ``fun`` at most once every ``every`` seconds; the first call goes through.

    Skipped calls return None. Useful when iteration speed is unknown or varies.
    """

    def __init__(self, fun: Callable[..., R], every: float = 10) -> None:
        self.fun = fun
        self.every = every
        self.last_call: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> R | None:
        now = time.monotonic()
        if self.last_call is not None and now - self.last_call < self.every:
            return None
        self.last_call = now
        return self.fun(*args, **kwargs)


class ThrottleRepeatedCalls(Generic[R]):
    """Call ``fun`` at most once every ``every`` calls; the first call goes through.

    Skipped calls return None. Useful to report a repeated warning without flooding.
    """

    def __init__(self, fun: Callable[..., R], every: int = 10) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.fun = fun
        self.every = every
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> R | None:
        self.calls += 1
        if (self.calls - 1) % self.every == 0:
            return self.fun(*args, **kwargs)
        return None


def throttled(
    fun: Callable[..., R], throttle: int | None = None, every: float | None = None
) -> Callable[..., R | None]:
    """Wrap ``fun`` to run every ``throttle`` calls and/or at most every ``every`` seconds.

    Without either limit ``fun`` is returned unchanged. With both, the call count is
    checked first and the time limit then applies to the calls that pass it.
    """
    wrapped: Callable[..., R | None] = fun
    if every is not None:
        wrapped = TimeThrottler(wrapped, every)
    if throttle is not None:
        wrapped = Throttler(wrapped, throttle)
    return wrapped


def throttle_repeated(fun: Callable[..., R], every: int | None = None) -> Callable[..., R | None]:
    """Wrap ``fun`` to run on the first call then once every ``every`` calls (unchanged if None)."""
    if every is None:
        return fun
    return ThrottleRepeatedCalls(fun, every)


def is_throttled(fun: Callable[..., Any]) -> bool:
    """Return True when ``fun`` is one of the throttling wrappers of this module."""
    return isinstance(fun, (Throttler, TimeThrottler, ThrottleRepeatedCalls))
