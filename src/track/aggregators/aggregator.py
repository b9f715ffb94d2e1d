"""Aggregators decide how the successive values of one metric are kept.

A metric logged every batch can be kept whole (``TimeSeriesAggregator``), reduced to
its latest value (``ValueAggregator``), to running statistics (``StatAggregator``) or
to its last ``n`` values (``RingAggregator``). Loggers receive a zero-argument factory
(see ``lazy``) so each metric gets a fresh aggregator when first seen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from track.containers.ring import RingBuffer
from track.utils.stat import StatStream

SHORT_LENGTH = 10


class Aggregator:
    """Base class: accumulate values with ``append`` and export them with ``to_json``."""

    def append(self, other: Any) -> None:
        """Record a new observation."""
        raise NotImplementedError

    def to_json(self, short: bool = False) -> Any:
        """Return a JSON-friendly view of the accumulated values (``short`` trims it)."""
        raise NotImplementedError

    @property
    def val(self) -> Any:
        """Return the last observed value."""
        raise NotImplementedError

    @staticmethod
    def lazy(*args: Any, **kwargs: Any) -> Callable[[], Aggregator]:
        """A zero-argument factory of ``aggregator_t(*rest, **kwargs)`` for ``args`` =
        ``(aggregator_t, *rest)``, e.g. ``Aggregator.lazy(TimeSeriesAggregator)``.

        Each subclass's ``lazy`` takes its own constructor's arguments instead; this open
        signature is what lets them override it.
        """
        aggregator_t, *rest = args
        return lambda: aggregator_t(*rest, **kwargs)


class ValueAggregator(Aggregator):
    """Does not aggregate: only keeps the latest value (e.g. metadata)."""

    def __init__(self, val: Any = None) -> None:
        self._val = val

    def append(self, other: Any) -> None:
        """Replace the kept value with ``other``."""
        self._val = other

    def to_json(self, short: bool = False) -> Any:
        """Return the kept value."""
        return self._val

    @property
    def val(self) -> Any:
        """Return the last observed value."""
        return self._val

    @staticmethod
    def lazy() -> Callable[[], ValueAggregator]:
        """Lazily instantiate the underlying aggregator."""
        return lambda: ValueAggregator()

    def __repr__(self) -> str:
        return f"ValueAggregator({self._val!r})"


class TimeSeriesAggregator(Aggregator):
    """Keeps the entire history of the metric."""

    def __init__(self) -> None:
        self._values: list[Any] = []

    def append(self, other: Any) -> None:
        """Add ``other`` at the end of the history."""
        self._values.append(other)

    def to_json(self, short: bool = False) -> list[Any]:
        """Return the history; ``short`` keeps only the last ten values."""
        if short:
            return self._values[-SHORT_LENGTH:]
        return self._values

    @property
    def val(self) -> Any:
        """Return the last observed value (None when empty)."""
        if not self._values:
            return None
        return self._values[-1]

    @staticmethod
    def lazy() -> Callable[[], TimeSeriesAggregator]:
        """Lazily instantiate the underlying aggregator."""
        return lambda: TimeSeriesAggregator()

    def __repr__(self) -> str:
        return f"TimeSeriesAggregator({self._values!r})"


class StatAggregator(Aggregator):
    """Compute mean, sd, min, max without keeping the history.

    Useful when memory matters and the values should not vary much (timings), so
    the whole history brings little. The first ``skip_obs`` values are ignored.
    """

    def __init__(self, skip_obs: int = 10) -> None:
        self.stat = StatStream(drop_first_obs=skip_obs)

    def append(self, other: float) -> None:
        """Feed ``other`` to the running statistics."""
        self.stat.update(other)

    def to_json(self, short: bool = False) -> dict[str, Any]:
        """Return ``{"avg", "min", "max", "sd", "count", "unit"}``."""
        return self.stat.to_json()

    @staticmethod
    def from_json(data: dict[str, Any]) -> StatAggregator:
        """Rebuild an aggregator from a ``to_json`` summary.

        The summary has no history, so the rebuilt statistics reproduce avg, sd, min,
        max and count and keep accumulating from there; ``val`` is unknown (None).
        """
        count = data["count"]
        avg = data["avg"]
        agg = StatAggregator(skip_obs=0)
        agg.stat = StatStream.from_dict(
            {
                "drop_obs": 0,
                "current_count": count,
                "first_obs": avg,
                "current_obs": None,
                "sum": 0.0,
                "sum_sqr": data["sd"] ** 2 * count,
                "min": data["min"],
                "max": data["max"],
            }
        )
        return agg

    @property
    def avg(self) -> float:
        """Mean of the kept values."""
        return self.stat.avg

    @property
    def max(self) -> float:
        """Largest kept value."""
        return self.stat.max

    @property
    def min(self) -> float:
        """Smallest kept value."""
        return self.stat.min

    @property
    def sd(self) -> float:
        """Standard deviation of the kept values."""
        return self.stat.sd

    @property
    def sum(self) -> float:
        """Sum of the kept values (the skipped ones are not part of it)."""
        return self.stat.sum

    @property
    def total(self) -> float:
        """Sum of the kept values."""
        return self.stat.total

    @property
    def val(self) -> float | None:
        """Return the last observed value."""
        return self.stat.val

    @staticmethod
    def lazy(skip: int = 10) -> Callable[[], StatAggregator]:
        """Lazily instantiate the underlying aggregator, skipping ``skip`` first values."""
        return lambda: StatAggregator(skip_obs=skip)

    def __repr__(self) -> str:
        return f"s<{self.to_json()}>"


class RingAggregator(Aggregator):
    """Saves the ``n`` last values, overwriting the oldest once ``n`` is reached."""

    def __init__(self, n: int, dtype: Any = "f") -> None:
        self.ring = RingBuffer(n, dtype)

    def append(self, other: Any) -> None:
        """Add ``other``, dropping the oldest value when full."""
        self.ring.append(other)

    def to_json(self, short: bool = False) -> list[Any]:
        """Return the kept values, oldest first."""
        return self.ring.to_list()

    @property
    def val(self) -> Any:
        """Return the last observed value (None when empty)."""
        if len(self.ring) == 0:
            return None
        return self.ring.last()

    @staticmethod
    def lazy(n: int, dtype: Any = "f") -> Callable[[], RingAggregator]:
        """Lazily instantiate the underlying aggregator."""
        return lambda: RingAggregator(n, dtype)

    def __repr__(self) -> str:
        return f"RingAggregator({self.ring.to_list()!r})"
