"""ChronoContext timing blocks, against a scripted clock so that every duration is exact."""

from __future__ import annotations

import types
from collections.abc import Callable

import pytest

import track.chrono
from track.aggregators.aggregator import StatAggregator, TimeSeriesAggregator
from track.chrono import ChronoContext


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """Script ``perf_counter`` for ChronoContext: ``clock(10.0, 10.25)`` returns those readings.

    Each reading is also recorded as ``"clock"`` in the returned event list, so that a test can
    check when the clock was read relative to its callbacks.
    """

    def script(*readings: float) -> list[str]:
        events: list[str] = []
        pending = iter(readings)

        def perf_counter() -> float:
            events.append("clock")
            return next(pending)

        monkeypatch.setattr(track.chrono, "time", types.SimpleNamespace(perf_counter=perf_counter))
        return events

    return script


def test_times_block_into_aggregator(clock: Callable[..., list[str]]) -> None:
    """The elapsed seconds of the block (end reading minus start reading) go to the aggregator."""
    clock(10.0, 10.25)
    acc = TimeSeriesAggregator()
    with ChronoContext(acc) as chrono:
        pass
    assert chrono.elapsed == 0.25
    assert acc.to_json() == [0.25]
    assert acc.val == 0.25


def test_callbacks_run_inside_timing(clock: Callable[..., list[str]]) -> None:
    """start_callback runs before the clock starts and end_callback before it stops."""
    events = clock(1.0, 3.0)
    chrono = ChronoContext(
        TimeSeriesAggregator(),
        start_callback=lambda: events.append("start"),
        end_callback=lambda: events.append("end"),
    )
    with chrono:
        events.append("body")
    assert events == ["start", "clock", "body", "end", "clock"]
    assert chrono.elapsed == 2.0


def test_reusable_with_stat_aggregator(clock: Callable[..., list[str]]) -> None:
    """The same context can time several blocks, each feeding the statistics."""
    clock(0.0, 0.5, 1.0, 1.25, 2.0, 3.0)
    acc = StatAggregator(skip_obs=0)
    chrono = ChronoContext(acc)
    for _ in range(3):
        with chrono:
            pass
    assert acc.to_json()["count"] == 3
    assert (acc.min, acc.max) == (0.25, 1.0)


def test_failed_block_is_not_recorded(clock: Callable[..., list[str]]) -> None:
    """An exception propagates and the incomplete duration is not stored."""
    clock(5.0, 5.5)
    acc = TimeSeriesAggregator()
    chrono = ChronoContext(acc)
    with pytest.raises(RuntimeError), chrono:
        raise RuntimeError("boom")
    assert acc.to_json() == []
    assert chrono.elapsed == 0.5
