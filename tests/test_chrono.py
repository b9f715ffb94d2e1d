"""ChronoContext timing blocks."""

import time

import pytest

from track.aggregators.aggregator import StatAggregator, TimeSeriesAggregator
from track.chrono import ChronoContext


def test_times_block_into_aggregator():
    """The elapsed seconds of the block are appended to the aggregator."""
    acc = TimeSeriesAggregator()
    with ChronoContext(acc) as chrono:
        time.sleep(0.05)
    assert len(acc.to_json()) == 1
    assert acc.val == chrono.elapsed
    assert 0.05 <= chrono.elapsed < 1.0


def test_callbacks_run_inside_timing():
    """start_callback runs before the clock starts and end_callback before it stops."""
    events = []
    acc = TimeSeriesAggregator()
    chrono = ChronoContext(
        acc,
        start_callback=lambda: events.append("start"),
        end_callback=lambda: (events.append("end"), time.sleep(0.05)),
    )
    with chrono:
        events.append("body")
    assert events == ["start", "body", "end"]
    assert chrono.elapsed >= 0.05


def test_reusable_with_stat_aggregator():
    """The same context can time several blocks, each feeding the statistics."""
    acc = StatAggregator(skip_obs=0)
    chrono = ChronoContext(acc)
    for _ in range(3):
        with chrono:
            time.sleep(0.01)
    assert acc.to_json()["count"] == 3
    assert acc.min >= 0.01


def test_failed_block_is_not_recorded():
    """An exception propagates and the incomplete duration is not stored."""
    acc = TimeSeriesAggregator()
    chrono = ChronoContext(acc)
    with pytest.raises(RuntimeError), chrono:
        raise RuntimeError("boom")
    assert acc.to_json() == []
    assert chrono.elapsed > 0
