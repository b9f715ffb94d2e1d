"""Throttling wrappers."""

from types import SimpleNamespace

import track.utils.throttle as throttle_module
from track.utils.throttle import (
    Throttler,
    ThrottleRepeatedCalls,
    TimeThrottler,
    is_throttled,
    throttle_repeated,
    throttled,
)


class Recorder:
    """Callable remembering its arguments."""

    def __init__(self):
        self.calls = []

    def __call__(self, value):
        self.calls.append(value)
        return value * 10


def test_throttler_calls_every_nth():
    """Throttler runs on every throttle-th call and returns None otherwise."""
    rec = Recorder()
    fun = Throttler(rec, throttle=3)
    results = [fun(i) for i in range(1, 10)]
    assert rec.calls == [3, 6, 9]
    assert results == [None, None, 30, None, None, 60, None, None, 90]


def test_throttler_default_calls_always():
    """A throttle of one lets every call through."""
    rec = Recorder()
    fun = Throttler(rec)
    for i in range(4):
        fun(i)
    assert rec.calls == [0, 1, 2, 3]


def test_repeated_calls_first_goes_through():
    """ThrottleRepeatedCalls runs the first call then once every `every` calls."""
    rec = Recorder()
    fun = ThrottleRepeatedCalls(rec, every=3)
    for i in range(1, 8):
        fun(i)
    assert rec.calls == [1, 4, 7]


def test_time_throttler_limits_by_seconds(monkeypatch):
    """TimeThrottler runs at most once per period, the first call immediately (scripted clock)."""
    now = [100.0]
    monkeypatch.setattr(throttle_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    rec = Recorder()
    fun = TimeThrottler(rec, every=2.0)
    assert fun(1) == 10
    now[0] += 1.5
    assert fun(2) is None
    now[0] += 0.5
    assert fun(3) == 30
    now[0] += 1.0
    assert fun(4) is None
    assert rec.calls == [1, 3]


def test_throttled_picks_wrapper():
    """throttled returns fun unchanged without limits and a throttling wrapper otherwise."""
    rec = Recorder()
    assert throttled(rec) is rec
    assert not is_throttled(rec)
    assert isinstance(throttled(rec, throttle=2), Throttler)
    assert isinstance(throttled(rec, every=5), TimeThrottler)
    assert is_throttled(throttled(rec, throttle=2, every=5))


def test_throttled_combines_count_and_time():
    """With both limits, only counted calls reach the time check."""
    rec = Recorder()
    fun = throttled(rec, throttle=2, every=60)
    for i in range(1, 7):
        fun(i)
    assert rec.calls == [2]


def test_throttle_repeated():
    """throttle_repeated wraps only when `every` is given."""
    rec = Recorder()
    assert throttle_repeated(rec) is rec
    wrapped = throttle_repeated(rec, every=2)
    assert is_throttled(wrapped)
    for i in range(4):
        wrapped(i)
    assert rec.calls == [0, 2]
