"""Aggregators: what each keeps and exports."""

import json
import statistics

import pytest

from track.aggregators.aggregator import (
    Aggregator,
    RingAggregator,
    StatAggregator,
    TimeSeriesAggregator,
    ValueAggregator,
)


def test_value_aggregator_keeps_latest():
    """ValueAggregator only remembers the last appended value."""
    agg = ValueAggregator(1)
    assert agg.val == 1
    agg.append(2)
    agg.append(3)
    assert agg.val == 3
    assert agg.to_json() == 3


def test_time_series_keeps_history():
    """TimeSeriesAggregator keeps everything; short exports the last ten values."""
    agg = TimeSeriesAggregator()
    assert agg.val is None
    for i in range(25):
        agg.append(i)
    assert agg.val == 24
    assert agg.to_json() == list(range(25))
    assert agg.to_json(short=True) == list(range(15, 25))


def test_stat_aggregator_statistics():
    """StatAggregator summarises values after skipping the first skip_obs ones."""
    agg = StatAggregator(skip_obs=2)
    values = [100.0, 50.0, 1.0, 2.0, 3.0, 6.0]
    for v in values:
        agg.append(v)

    kept = values[2:]
    assert agg.avg == pytest.approx(statistics.fmean(kept))
    assert agg.sd == pytest.approx(statistics.pstdev(kept))
    assert agg.min == 1.0
    assert agg.max == 6.0
    assert agg.total == pytest.approx(sum(kept))
    assert agg.val == 6.0

    data = agg.to_json()
    assert set(data) == {"avg", "min", "max", "sd", "count", "unit"}
    assert data["count"] == 4
    assert data["unit"] == "s"
    json.dumps(data)


def test_stat_aggregator_from_json_round_trip():
    """from_json(to_json()) restores the summary and keeps accumulating consistently."""
    agg = StatAggregator(skip_obs=0)
    values = [1.0, 4.0, 2.0, 8.0]
    for v in values:
        agg.append(v)

    restored = StatAggregator.from_json(agg.to_json())
    for key, value in agg.to_json().items():
        assert restored.to_json()[key] == pytest.approx(value)

    agg.append(5.0)
    restored.append(5.0)
    assert restored.avg == pytest.approx(statistics.fmean([*values, 5.0]))
    assert restored.sd == pytest.approx(statistics.pstdev([*values, 5.0]))


def test_ring_aggregator_keeps_last_n():
    """RingAggregator exports the n last values oldest first."""
    agg = RingAggregator(3, "d")
    assert agg.val is None
    for v in range(6):
        agg.append(v)
    assert agg.to_json() == [3.0, 4.0, 5.0]
    assert agg.val == 5.0


def test_lazy_factories_build_fresh_instances():
    """Each lazy() returns a zero-argument factory building new, configured aggregators."""
    make_stat = StatAggregator.lazy(1)
    first, second = make_stat(), make_stat()
    assert first is not second
    first.append(10.0)
    first.append(20.0)
    assert first.to_json()["count"] == 1
    assert second.to_json()["count"] == 0

    ring = RingAggregator.lazy(2, "f")()
    for v in (1, 2, 3):
        ring.append(v)
    assert ring.to_json() == [2.0, 3.0]

    assert isinstance(ValueAggregator.lazy()(), ValueAggregator)
    assert isinstance(TimeSeriesAggregator.lazy()(), TimeSeriesAggregator)
    series = Aggregator.lazy(TimeSeriesAggregator)()
    assert series.to_json() == []


def test_base_aggregator_is_abstract():
    """The base class refuses to be used directly."""
    agg = Aggregator()
    with pytest.raises(NotImplementedError):
        agg.append(1)
    with pytest.raises(NotImplementedError):
        agg.to_json()
