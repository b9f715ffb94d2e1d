"""StatStream against numpy/statistics references."""

import math
import random
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from track.utils.stat import StatStream


def feed(values, drop=0):
    """Build a StatStream fed with ``values``."""
    stream = StatStream(drop_first_obs=drop)
    for v in values:
        stream.update(v)
    return stream


def running_sum(values):
    """Left-to-right float addition, as a one-pass accumulator does (``sum()`` compensates
    its rounding errors since Python 3.12, so it is no naive baseline there)."""
    total = 0.0
    for v in values:
        total += v
    return total


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e9])
def test_matches_numpy_on_random_data(offset):
    """avg/sd/var/min/max/total match numpy, including values around a large offset."""
    rng = np.random.default_rng(0)
    values = offset + rng.normal(0.0, 1.0, size=5000)
    stream = feed(values.tolist())

    assert stream.count == len(values)
    assert stream.avg == pytest.approx(values.mean(), rel=1e-12, abs=1e-9)
    assert stream.var == pytest.approx(values.var(), rel=1e-6)
    assert stream.sd == pytest.approx(values.std(), rel=1e-6)
    assert stream.min == values.min()
    assert stream.max == values.max()
    assert stream.total == pytest.approx(values.sum(), rel=1e-12)


def test_large_offset_beats_naive_sum_of_squares():
    """Around 1e9 a naive sum of squares loses the variance; the shifted one does not."""
    rnd = random.Random(1)
    values = [1e9 + rnd.gauss(0, 0.01) for _ in range(1000)]

    n = len(values)
    naive = running_sum(v * v for v in values) / n - (running_sum(values) / n) ** 2
    expected = statistics.pvariance(values)
    assert abs(naive - expected) > expected  # the naive formula is garbage here

    stream = feed(values)
    assert stream.var >= 0.0
    assert stream.var == pytest.approx(expected, rel=1e-6)
    assert stream.sd == pytest.approx(statistics.pstdev(values), rel=1e-6)


def test_constant_values_have_zero_variance():
    """Identical observations give exactly zero variance, never a negative one."""
    stream = feed([0.1] * 1000)
    assert stream.var == 0.0
    assert stream.sd == 0.0
    assert stream.avg == pytest.approx(0.1)


def test_drop_first_obs():
    """The first drop_first_obs observations are ignored by the statistics but seen by val."""
    values = [100.0, 90.0, 1.0, 2.0, 3.0]
    stream = feed(values, drop=2)

    assert stream.drop_obs == 2
    assert stream.current_count == 5
    assert stream.count == 3
    assert stream.first_obs == 1.0
    assert stream.avg == pytest.approx(2.0)
    assert stream.min == 1.0
    assert stream.max == 3.0
    assert stream.total == pytest.approx(6.0)
    assert stream.val == 3.0
    assert stream.var == pytest.approx(statistics.pvariance([1.0, 2.0, 3.0]))


def test_only_dropped_observations():
    """While every observation is dropped the stats keep their empty values."""
    stream = feed([5.0, 6.0], drop=10)
    assert stream.count == 0
    assert stream.avg == 0.0
    assert stream.sd == 0.0
    assert stream.min == math.inf
    assert stream.max == -math.inf
    assert stream.val == 6.0


def test_empty_stream():
    """A fresh stream reports neutral values."""
    stream = StatStream()
    assert stream.to_json() == {
        "avg": 0.0,
        "min": math.inf,
        "max": -math.inf,
        "sd": 0.0,
        "count": 0,
        "unit": "s",
    }
    assert stream.val is None


def test_weighted_update_equals_repeated_updates():
    """update(v, weight=k) is the same as k updates of v, drop included."""
    weighted = StatStream(drop_first_obs=2)
    weighted.update(1.0, weight=3)
    weighted.update(4.0, weight=2)
    repeated = feed([1.0, 1.0, 1.0, 4.0, 4.0], drop=2)

    assert weighted.count == repeated.count == 3
    assert weighted.avg == pytest.approx(repeated.avg)
    assert weighted.var == pytest.approx(repeated.var)


def test_state_dict_round_trip():
    """from_dict(state_dict()) gives an identical stream that keeps accumulating the same."""
    rnd = random.Random(2)
    values = [rnd.uniform(0, 10) for _ in range(50)]
    stream = feed(values[:30], drop=5)
    copy = StatStream.from_dict(stream.state_dict())
    assert copy.state_dict() == stream.state_dict()

    for v in values[30:]:
        stream.update(v)
        copy.update(v)
    assert copy.to_dict() == stream.to_dict()
    assert copy.avg == pytest.approx(statistics.fmean(values[5:]))


def test_from_dict_rejects_incomplete_state():
    """A state missing fields is refused instead of producing a broken stream."""
    with pytest.raises(KeyError):
        StatStream.from_dict({"sum": 1.0})


def test_exports():
    """to_json, to_dict and to_array expose the same statistics."""
    stream = feed([1.0, 2.0, 3.0, 4.0])
    summary = stream.to_json()
    assert summary["unit"] == "s"
    assert summary["count"] == 4
    assert summary["avg"] == pytest.approx(2.5)

    assert stream.to_dict()["var"] == pytest.approx(1.25)
    assert stream.to_array() == [stream.avg, 1.0, 4.0, stream.sd, 4]
    in_ms = stream.to_array(transform=lambda s: s * 1000)
    assert in_ms[:3] == pytest.approx([2500.0, 1000.0, 4000.0])
    assert in_ms[4] == 4


def test_sum_after_skipped_observations():
    """With 10 skipped observations over 0..99, sum is the sum of the 90 kept values (4905)."""
    from track.aggregators.aggregator import StatAggregator

    agg = StatAggregator(skip_obs=10)
    for v in range(100):
        agg.append(v)
    assert agg.avg == pytest.approx(54.5)
    assert agg.stat.count == 90
    assert agg.sum == pytest.approx(4905)
    assert agg.total == pytest.approx(4905)
    assert agg.stat.sum_sqr == pytest.approx(sum(v * v for v in range(10, 100)))


_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    observations=st.lists(st.tuples(_finite, st.integers(1, 4)), min_size=1, max_size=60),
    drop=st.integers(0, 30),
)
def test_every_statistic_matches_numpy(observations, drop):
    """count, sum, sum_sqr, total, avg, var, sd, min, max and val agree with numpy."""
    stream = StatStream(drop_first_obs=drop)
    for value, weight in observations:
        stream.update(value, weight=weight)

    expanded = np.array([v for v, w in observations for _ in range(w)], dtype=float)
    kept = expanded[drop:]
    assert stream.current_count == len(expanded)
    assert stream.val == observations[-1][0]
    assert stream.count == len(kept)
    if len(kept) == 0:
        assert (stream.sum, stream.sum_sqr, stream.total, stream.avg) == (0.0, 0.0, 0.0, 0.0)
        assert (stream.var, stream.sd) == (0.0, 0.0)
        assert (stream.min, stream.max) == (math.inf, -math.inf)
        return

    # rounding: the shifted sums are exact up to a few ulps of the largest shifted magnitude
    spread = float(np.max(np.abs(kept - kept[0]))) + float(np.max(np.abs(kept)))
    tol = 1e-12 * len(kept) * max(spread, 1.0)
    assert stream.sum == pytest.approx(kept.sum(), abs=tol)
    assert stream.total == pytest.approx(kept.sum(), abs=tol)
    assert stream.avg == pytest.approx(kept.mean(), abs=tol)
    assert stream.sum_sqr == pytest.approx(np.sum(kept * kept), rel=1e-9, abs=tol * spread)
    assert stream.var == pytest.approx(kept.var(), abs=tol * spread)
    assert stream.sd == pytest.approx(kept.std(), abs=math.sqrt(tol * spread))
    assert stream.min == kept.min()
    assert stream.max == kept.max()
    assert stream.to_dict()["sum"] == stream.sum
