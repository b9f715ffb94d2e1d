"""Downsampling keeps the shape, the ends and the extremes of a series."""

from __future__ import annotations

import math
import random

from track.dashboard.downsample import downsample_indices, finite_points, lttb_indices


def test_short_series_are_kept_whole() -> None:
    """A series shorter than the threshold is returned point for point."""
    assert downsample_indices([1.0, 2.0, 3.0], 10) == [0, 1, 2]


def test_long_series_keep_ends_and_extremes() -> None:
    """A 200,000-point series shrinks to the threshold and keeps its spike and dip."""
    rng = random.Random(0)
    ys = [math.sin(i / 5000) + rng.random() * 0.01 for i in range(200_000)]
    ys[12345], ys[54321] = 40.0, -40.0
    kept = downsample_indices(ys, 1000)
    assert len(kept) == 1000
    assert kept == sorted(set(kept))
    assert {0, len(ys) - 1, 12345, 54321} <= set(kept)


def test_lttb_picks_the_corner_of_a_step() -> None:
    """On a step function LTTB keeps a point on each side of the jump."""
    ys = [0.0] * 50 + [10.0] * 50
    kept = lttb_indices(list(range(100)), ys, 10)
    values = {ys[i] for i in kept}
    assert len(kept) == 10 and values == {0.0, 10.0}


def test_finite_points_skips_nan_and_infinities() -> None:
    """NaN, infinities and non-numbers are not drawable."""
    assert finite_points([1.0, math.nan, 2, math.inf, None, -math.inf, 3.5]) == [0, 2, 6]
