"""RingBuffer behaviour."""

import pytest

from track.containers.ring import RingBuffer


def test_keeps_last_items_oldest_first():
    """Once full, the oldest items are overwritten and to_list stays in arrival order."""
    ring = RingBuffer(3)
    for i in range(7):
        ring.append(i)
    assert ring.to_list() == [4.0, 5.0, 6.0]
    assert ring.last() == 6.0
    assert len(ring) == 3


def test_partial_fill():
    """Before wrapping around only appended items are visible."""
    ring = RingBuffer(5, dtype=int)
    ring.append(1)
    ring.append(2)
    assert ring.to_list() == [1, 2]
    assert len(ring) == 2
    assert list(ring) == [1, 2]


def test_getitem_uses_logical_order():
    """Indices (including negative ones) follow oldest-first order after wrap-around."""
    ring = RingBuffer(4, dtype=str)
    for c in "abcdef":
        ring.append(c)
    assert [ring[i] for i in range(4)] == ["c", "d", "e", "f"]
    assert ring[-1] == "f"
    with pytest.raises(IndexError):
        ring[4]


def test_array_typecode_storage():
    """A typecode dtype stores values in an array with that precision."""
    ring = RingBuffer(2, dtype="f")
    for v in (0.5, 0.1, 0.25):
        ring.append(v)
    assert ring.to_list() == pytest.approx([0.1, 0.25])
    assert ring.last() == 0.25


def test_empty_and_invalid():
    """last() on an empty ring and a non-positive size are errors."""
    with pytest.raises(IndexError):
        RingBuffer(2).last()
    with pytest.raises(ValueError):
        RingBuffer(0)
