"""Estimated time of arrival for (possibly nested) training loops."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from track.utils.stat import StatStream


def to_list(item: int | Sequence[int]) -> list[int]:
    """Return ``item`` as a list so scalar and nested steps are handled alike."""
    if isinstance(item, Sequence):
        return list(item)
    return [item]


def get_time(timer: StatStream) -> float:
    """Return the typical step duration: the timer's mean, or its last value while every
    observation so far was dropped as warm-up (0.0 when it saw nothing)."""
    if timer.count > 0:
        return timer.avg
    if timer.val is not None:
        return timer.val
    return 0.0


class EstimatedTime:
    """Compute the estimated time to arrival from the average step time and the steps left.

    ``total`` is the number of iterations of each loop level, outermost first, e.g.
    ``(epochs, batches)``; steps are given the same way, ``(epoch, batch)``, 0-based,
    and designate the iteration that just completed. ``start`` is the flat number of
    iterations already done when this estimator was created (e.g. after a resume); it
    is used to derive a step time from the wall clock when the timer is still empty.

    Examples:
        >>> timer = StatStream(drop_first_obs=0)
        >>> timer.update(0.5)
        >>> eta = EstimatedTime(timer, (10, 100))
        >>> eta.estimated_time((0, 99), unit=1)
        450.0
    """

    def __init__(
        self,
        stat_timer: StatStream,
        total: int | Sequence[int],
        start: int = 0,
        name: str | None = None,
    ) -> None:
        self.timer = stat_timer
        self._totals = to_list(total)
        self.start = start
        self.name = name
        self.start_time = time.time()

    @staticmethod
    def count(item: int | Sequence[int], offset: int = 0) -> int:
        """Return the number of iterations described by a nested count, the product of
        ``i + offset`` over its levels (``count((10, 100)) == 1000``)."""
        return math.prod(i + offset for i in to_list(item))

    @property
    def total(self) -> int:
        """Total number of iterations over every loop level."""
        return self.count(self._totals)

    def set_totals(self, t: int | Sequence[int]) -> None:
        """Set the total number of iterations for each loop level."""
        self._totals = to_list(t)

    def _completed(self, step: int | Sequence[int]) -> int:
        """Flat number of iterations done once ``step`` (0-based, nested) has completed."""
        steps = to_list(step)
        if len(steps) != len(self._totals):
            raise ValueError(f"step {steps} does not match the loop totals {self._totals}")

        flat = 0
        for index, size in zip(steps, self._totals, strict=True):
            flat = flat * size + index
        return flat + 1

    def elapsed(self, unit: float = 60) -> float:
        """Return the time elapsed since the estimator was created, in ``unit`` seconds."""
        return (time.time() - self.start_time) / unit

    def estimated_time(self, step: int | Sequence[int], unit: float = 60) -> float:
        """Estimate the time remaining after ``step``, in ``unit`` seconds (minutes by default)."""
        completed = self._completed(step)
        step_time = get_time(self.timer)
        if step_time == 0.0 and completed > self.start:
            step_time = self.elapsed(unit=1) / (completed - self.start)

        remaining = max(0, self.total - completed)
        return step_time * remaining / unit

    def show_eta(self, step: int | Sequence[int], msg: str = "", show: bool = True) -> str:
        """Build a progress line such as ``[  1/ 10][ 20/1000] Eta: 2.31 min`` followed by
        ``msg``; print it to stdout when ``show`` and return it."""
        eta = self.estimated_time(step)
        levels = zip(to_list(step), self._totals, strict=True)
        progress = "".join(f"[{s:3d}/{t:3d}]" for s, t in levels)
        parts = [progress, f"Eta: {eta:.2f} min"]
        if self.name:
            parts.insert(0, self.name)
        if msg:
            parts.append(msg)

        line = " ".join(parts)
        if show:
            print(line, flush=True)
        return line
