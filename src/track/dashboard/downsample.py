"""Downsampling long metric series for charts: MinMax preselection, then LTTB.

Largest-Triangle-Three-Buckets (Steinarsson, 2013) keeps the points that shape a line chart.
On a long series it is first given, per bucket, the smallest and largest value
(MinMaxLTTB, Van Der Donckt et al., 2023), which keeps the cost near one pass of C-level
``min``/``max`` over the values, and the series' global minimum and maximum are always
kept, so a spike never disappears from a chart.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["downsample_indices", "lttb_indices"]

#: with more than this many points per output point, preselect per-bucket min and max first
PRESELECT_RATIO = 4


def _buckets(start: int, stop: int, count: int) -> list[tuple[int, int]]:
    size = (stop - start) / count
    edges = [start + int(i * size) for i in range(count)] + [stop]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def _minmax_indices(ys: Sequence[float], count: int) -> list[int]:
    """Indices of the min and max of each of ``count`` buckets, plus the first and last."""
    n = len(ys)
    keep = {0, n - 1}
    for a, b in _buckets(1, n - 1, count):
        segment = ys[a:b]
        keep.add(a + segment.index(min(segment)))
        keep.add(a + segment.index(max(segment)))
    return sorted(keep)


def lttb_indices(xs: Sequence[float], ys: Sequence[float], threshold: int) -> list[int]:
    """Indices of the ``threshold`` points LTTB keeps (all of them when there are fewer)."""
    n = len(xs)
    if threshold >= n or threshold < 3:
        return list(range(n))
    kept = [0]
    buckets = _buckets(1, n - 1, threshold - 2)
    a = 0
    for i, (start, stop) in enumerate(buckets):
        if i + 1 < len(buckets):
            next_start, next_stop = buckets[i + 1]
        else:
            next_start, next_stop = n - 1, n
        span = next_stop - next_start
        avg_x = sum(xs[next_start:next_stop]) / span
        avg_y = sum(ys[next_start:next_stop]) / span
        ax, ay = xs[a], ys[a]
        best, best_area = start, -1.0
        for j in range(start, stop):
            area = abs((ax - avg_x) * (ys[j] - ay) - (ax - xs[j]) * (avg_y - ay))
            if area > best_area:
                best, best_area = j, area
        kept.append(best)
        a = best
    kept.append(n - 1)
    return kept


def downsample_indices(ys: Sequence[float], threshold: int = 2000) -> list[int]:
    """Indices of at most ~``threshold`` points to draw, always keeping the global min and max.

    ``ys`` must hold finite numbers; x is taken as the point's position in the series.
    """
    n = len(ys)
    if n <= threshold:
        return list(range(n))
    candidates = list(range(n))
    if n > PRESELECT_RATIO * threshold:
        candidates = _minmax_indices(ys, PRESELECT_RATIO * threshold // 2)
    chosen = lttb_indices(candidates, [ys[i] for i in candidates], threshold)
    keep = {candidates[i] for i in chosen}
    keep.add(ys.index(min(ys)))
    keep.add(ys.index(max(ys)))
    return sorted(keep)


def finite_points(values: Sequence[Any]) -> Sequence[int]:
    """Indices of the values that are finite numbers (what a chart can draw)."""
    try:
        total = float(sum(values, 0.0))
    except TypeError:  # something that is not a number: sort them out one by one
        total = math.nan
    if math.isfinite(total):  # no NaN or inf among them (either would make the sum so)
        return range(len(values))
    return [
        i
        for i, v in enumerate(values)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ]
