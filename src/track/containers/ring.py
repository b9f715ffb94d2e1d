"""Fixed-size circular buffer keeping the last ``size`` items."""

from __future__ import annotations

import array
from collections.abc import Callable
from typing import Any


class RingBuffer:
    """Keep the ``size`` most recent items, overwriting the oldest once full.

    Memory is bounded whatever the number of appends, which suits long-running
    metrics or captured output where only the recent past matters.

    ``dtype`` is either a Python callable applied to every item (``float``, ``str``...)
    or an :mod:`array` typecode such as ``'f'``, in which case items are stored in a
    compact ``array.array`` (with that typecode's precision).
    """

    def __init__(self, size: int, dtype: type | Callable[[Any], Any] | str = float) -> None:
        if size <= 0:
            raise ValueError(f"RingBuffer size must be positive, got {size}")

        self._size = size
        self._dtype = dtype
        self._data: array.array[Any] | list[Any]
        if isinstance(dtype, str):
            self._data = array.array(dtype, bytes(array.array(dtype).itemsize * size))
        else:
            self._data = [None] * size
        self._count = 0

    def append(self, item: Any) -> None:
        """Add ``item``, overwriting the oldest item when the buffer is full."""
        if not isinstance(self._dtype, str):
            item = self._dtype(item)
        self._data[self._count % self._size] = item
        self._count += 1

    def last(self) -> Any:
        """Return the most recently appended item (IndexError when empty)."""
        if self._count == 0:
            raise IndexError("last() on an empty RingBuffer")
        return self._data[(self._count - 1) % self._size]

    def to_list(self) -> list[Any]:
        """Return the stored items, oldest first."""
        if self._count <= self._size:
            return list(self._data[: self._count])
        start = self._count % self._size
        return list(self._data[start:]) + list(self._data[:start])

    def __len__(self) -> int:
        return min(self._count, self._size)

    def __getitem__(self, index: int) -> Any:
        """Return the item at ``index`` in oldest-first order (negative indices allowed)."""
        length = len(self)
        if index < 0:
            index += length
        if not 0 <= index < length:
            raise IndexError(f"RingBuffer index {index} out of range")
        oldest = self._count - length
        return self._data[(oldest + index) % self._size]

    def __repr__(self) -> str:
        return f"RingBuffer(size={self._size}, items={self.to_list()})"
