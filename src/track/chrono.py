"""Context manager timing a block of code into an aggregator."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any


class ChronoContext:
    """Time a ``with`` block with ``time.perf_counter`` and append the seconds to ``acc``.

    ``start_callback`` runs before the clock starts and ``end_callback`` before it stops:
    asynchronous work (CUDA kernels) must be synchronized there or the block would look
    faster than it is. ``acc`` is anything with ``append`` (an ``Aggregator``). A block
    that raises is not recorded, since its duration is not a complete measurement;
    ``elapsed`` is still set. The same context can be entered again and again.
    """

    def __init__(
        self,
        acc: Any,
        start_callback: Callable[[], Any] | None = None,
        end_callback: Callable[[], Any] | None = None,
    ) -> None:
        self.acc = acc
        self.start_callback = start_callback
        self.end_callback = end_callback
        self.start = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> ChronoContext:
        if self.start_callback is not None:
            self.start_callback()
        self.start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self.end_callback is not None:
            self.end_callback()
        self.elapsed = time.perf_counter() - self.start
        if exc_type is None:
            self.acc.append(self.elapsed)
