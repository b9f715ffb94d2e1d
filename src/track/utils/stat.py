"""Numerically stable running statistics (mean, sd, min, max) over a stream of values."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from track.registry import lazy_aliases

_STATE_KEYS = (
    "drop_obs",
    "current_count",
    "first_obs",
    "current_obs",
    "sum",
    "sum_sqr",
    "min",
    "max",
)


class StatStream:
    """Running mean, standard deviation, min and max without keeping the history.

    Memory stays constant however many observations are fed, which is what a
    per-batch timer needs. The first ``drop_first_obs`` observations are ignored
    because warm-up iterations are usually much slower than the rest.

    To stay numerically stable the first kept observation ``x0`` is stored and only
    ``x - x0`` and ``(x - x0) ** 2`` are accumulated; the shifted values stay close
    to zero so the variance does not suffer from catastrophic cancellation (a naive
    sum of squares goes negative on values like ``1e9 + noise``).

    The variance is the population variance (divided by ``count``).
    """

    def __init__(self, drop_first_obs: int = 10) -> None:
        self._drop_obs = drop_first_obs
        self._current_count: float = 0
        self._first_obs = 0.0
        self._current_obs: float | None = None
        self._sum = 0.0
        self._sum_sqr = 0.0
        self._min = math.inf
        self._max = -math.inf

    def update(self, val: float, weight: float = 1) -> None:
        """Record observation ``val`` counted ``weight`` times.

        Observations falling inside the first ``drop_obs`` ones only update ``val``.
        """
        before = self._current_count
        self._current_count += weight
        self._current_obs = val

        kept = self._current_count - max(before, self._drop_obs)
        if kept <= 0:
            return

        if before <= self._drop_obs:
            self._first_obs = val

        delta = val - self._first_obs
        self._sum += delta * kept
        self._sum_sqr += delta * delta * kept
        self._min = min(self._min, val)
        self._max = max(self._max, val)

    @property
    def drop_obs(self) -> int:
        """Number of leading observations that are discarded."""
        return self._drop_obs

    @property
    def current_count(self) -> float:
        """Number of observations seen, including the dropped ones."""
        return self._current_count

    @property
    def count(self) -> float:
        """Number of observations kept (after the dropped ones)."""
        return max(0, self._current_count - self._drop_obs)

    @property
    def first_obs(self) -> float:
        """First kept observation, the shift applied before accumulating."""
        return self._first_obs

    @property
    def current_obs(self) -> float:
        """Last observation shifted by ``first_obs`` (0.0 when nothing was seen)."""
        if self._current_obs is None:
            return 0.0
        return self._current_obs - self._first_obs

    @property
    def val(self) -> float | None:
        """Last observation, kept or dropped (None before the first update)."""
        return self._current_obs

    @property
    def sum(self) -> float:
        """Sum of the kept observations (the dropped ones are not part of it)."""
        return self._sum + self._first_obs * self.count

    @property
    def sum_sqr(self) -> float:
        """Sum of the squared kept observations, ``sum(x ** 2)``.

        Derived from the shifted sums: ``sum((x - x0) ** 2) + 2 * x0 * sum(x - x0) + n * x0 ** 2``.
        ``state_dict`` holds the shifted sums themselves.
        """
        x0 = self._first_obs
        return self._sum_sqr + 2 * x0 * self._sum + self.count * x0 * x0

    @property
    def total(self) -> float:
        """Sum of the kept observations (the same as ``sum``)."""
        return self.sum

    @property
    def min(self) -> float:
        """Smallest kept observation (``inf`` when none)."""
        return self._min

    @property
    def max(self) -> float:
        """Largest kept observation (``-inf`` when none)."""
        return self._max

    @property
    def avg(self) -> float:
        """Mean of the kept observations (0.0 when none)."""
        count = self.count
        if count <= 0:
            return 0.0
        return self._first_obs + self._sum / count

    @property
    def var(self) -> float:
        """Population variance of the kept observations (0.0 when none, never negative)."""
        count = self.count
        if count <= 0:
            return 0.0
        mean_delta = self._sum / count
        return max(0.0, self._sum_sqr / count - mean_delta * mean_delta)

    @property
    def sd(self) -> float:
        """Population standard deviation of the kept observations."""
        return math.sqrt(self.var)

    def state_dict(self) -> dict[str, Any]:
        """Return the full internal state, so the stream can be rebuilt with ``from_dict``.

        Its ``sum`` and ``sum_sqr`` are the shifted sums, ``sum(x - first_obs)`` and
        ``sum((x - first_obs) ** 2)``, that the stream accumulates.
        """
        return {
            "drop_obs": self._drop_obs,
            "current_count": self._current_count,
            "first_obs": self._first_obs,
            "current_obs": self._current_obs,
            "sum": self._sum,
            "sum_sqr": self._sum_sqr,
            "min": self._min,
            "max": self._max,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> StatStream:
        """Rebuild a stream from a ``state_dict`` output."""
        missing = [key for key in _STATE_KEYS if key not in data]
        if missing:
            raise KeyError(f"StatStream state is missing {missing}")

        stream = StatStream(drop_first_obs=data["drop_obs"])
        stream._current_count = data["current_count"]
        stream._first_obs = data["first_obs"]
        stream._current_obs = data["current_obs"]
        stream._sum = data["sum"]
        stream._sum_sqr = data["sum_sqr"]
        stream._min = data["min"]
        stream._max = data["max"]
        return stream

    def to_dict(self) -> dict[str, Any]:
        """Return the derived statistics (mean, spread, extremes, counts) as a dict."""
        return {
            "avg": self.avg,
            "sd": self.sd,
            "var": self.var,
            "min": self.min,
            "max": self.max,
            "total": self.total,
            "sum": self.sum,
            "sum_sqr": self.sum_sqr,
            "count": self.count,
            "val": self.val,
        }

    def to_array(self, transform: Callable[[float], float] | None = None) -> list[float]:
        """Return ``[avg, min, max, sd, count]``; ``transform`` (e.g. a unit change) is
        applied to the four value fields but not to the count."""
        values = [self.avg, self.min, self.max, self.sd]
        if transform is not None:
            values = [transform(v) for v in values]
        return [*values, self.count]

    def to_json(self) -> dict[str, Any]:
        """Return the compact summary saved for timers: avg, min, max, sd, count and unit."""
        return {
            "avg": self.avg,
            "min": self.min,
            "max": self.max,
            "sd": self.sd,
            "count": self.count,
            "unit": "s",
        }

    def __repr__(self) -> str:
        return f"StatStream({self.to_json()})"


#: the seeds' shared-memory statistics, kept in :mod:`track.compat.stat`
__getattr__ = lazy_aliases(__name__, {"StatStreamStruct": "track.compat.stat"})
