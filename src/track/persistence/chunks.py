"""Metric series packed in chunks: the columnar layout SQL stores keep points in.

A chunk holds consecutive points of one series as three packed columns (steps, values, times)
in one blob, and a :class:`ChunkSummary` (count, step range, first and last time, value min,
max and last, and where the min and max are) that a store keeps beside it in plain columns, so
that filters and chart previews never unpack a blob.

Each column is packed by what it holds, with no Python loop per point:

- steps: an arithmetic run of ints is two numbers (``range``); other ints are int64, floats
  float64, all-None nothing at all, anything else (strings, mixed kinds) JSON;
- values: int64 when every value of the chunk is an int that fits, else float64 (an int beside
  floats in the same chunk reads back as a float, as PostgreSQL has always kept it); JSON only
  for ints beyond int64 with no float beside them, or beside floats when too large for any
  float64 (both then read back as logged);
- times: float64.

Fixed-width columns are byte-shuffled (the i-th byte of every number together) and deflated:
steps, times and smooth values share their high bytes, which then compress to almost nothing.
A column that does not compress (noise-like values) is kept as it is, so packing never costs
more than the raw numbers. Everything is little-endian whatever the machine.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from track.serialization import INT64_MAX, INT64_MIN
from track.utils.memory import gc_paused

__all__ = [
    "CHUNK_POINTS",
    "MAX_CHUNK_POINTS",
    "ChunkPreview",
    "ChunkSummary",
    "SeriesColumns",
    "decode_chunks",
    "encode_chunk",
    "encode_chunks",
]

#: points in a full chunk: big enough that a million points are ~120 rows, small enough that a
#: range read or a merge of the open tail unpacks little it does not need
CHUNK_POINTS = 8192
#: the most points a chunk may declare when read: the format's limit, above the size written,
#: so that chunks written by a release with a larger CHUNK_POINTS (up to this) stay readable
MAX_CHUNK_POINTS = 65536

#: One chunk as a store summarizes it, without its points: ``(first_seq, count, low_step,
#: high_step, first_time, last_time, min_value, max_value, min_at, max_at, last_value)``
#: (see :class:`ChunkSummary`; ``first_seq`` is the position of its first point in the series).
ChunkPreview = tuple[Any, ...]

_MAGIC = b"TC\x01"
_HEADER = struct.Struct("<3sI")  # magic+version, count
_COLUMN = struct.Struct("<ccI")  # kind, codec, payload length
_RUN = struct.Struct("<qq")  # first step, difference
_BIG_ENDIAN = sys.byteorder == "big"
#: a sample of a column is deflated first; at more than this fraction of its size, it stays raw
_INCOMPRESSIBLE = 0.9
_SAMPLE = 4096


class SeriesColumns:
    """One metric series as columns of equal length, in logging order.

    ``steps``, ``values`` and ``times`` are ``array`` objects when the points allow it (int64
    or float64: ``numpy.asarray(series.values)`` reads them without a copy), a ``range`` for
    steps that go up by a constant, and lists otherwise (string steps, steps left None).
    """

    __slots__ = ("steps", "times", "values")

    def __init__(
        self,
        steps: Sequence[Any] | None = None,
        values: Sequence[Any] | None = None,
        times: Sequence[Any] | None = None,
    ) -> None:
        self.steps: Sequence[Any] = [] if steps is None else steps
        self.values: Sequence[Any] = [] if values is None else values
        self.times: Sequence[Any] = [] if times is None else times

    @classmethod
    def from_points(cls, points: Sequence[Sequence[Any]]) -> SeriesColumns:
        """Columns of ``[step, value, time]`` points."""
        return cls([p[0] for p in points], [p[1] for p in points], [p[2] for p in points])

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SeriesColumns):
            return NotImplemented
        return self.points() == other.points()

    def __repr__(self) -> str:
        return f"SeriesColumns({len(self)} points)"

    def points(self) -> list[list[Any]]:
        """The points as ``[step, value, time]`` lists (what ``get_trial_metrics`` returns)."""
        with gc_paused():  # a million small lists, no cycle among them
            return list(map(list, zip(self.steps, self.values, self.times, strict=True)))

    def between(self, low: Any = None, high: Any = None) -> SeriesColumns:
        """The points whose numeric step is within ``[low, high]`` (None: unbounded); with no
        bound at all, every point."""
        if low is None and high is None:
            return self
        keep = [
            i
            for i, step in enumerate(self.steps)
            if isinstance(step, (int, float))
            and (low is None or step >= low)
            and (high is None or step <= high)
        ]
        if len(keep) == len(self):
            return self
        if keep and keep[-1] - keep[0] + 1 == len(keep):
            window = slice(keep[0], keep[-1] + 1)
            return SeriesColumns(self.steps[window], self.values[window], self.times[window])
        return SeriesColumns(
            [self.steps[i] for i in keep],
            [self.values[i] for i in keep],
            [self.times[i] for i in keep],
        )


@dataclass(frozen=True)
class ChunkSummary:
    """What a store keeps beside a chunk's blob, readable without unpacking it.

    ``low_step``/``high_step`` bound the chunk's numeric steps, NaN left out (None when it
    has none: a step range read skips the chunk); ``min_value``/``max_value`` leave NaN out
    (None when every value is NaN), and ``min_at``/``max_at`` are their first positions.
    """

    count: int
    low_step: int | float | None
    high_step: int | float | None
    first_time: float | None
    last_time: float | None
    min_value: int | float | None
    max_value: int | float | None
    min_at: int | None
    max_at: int | None
    last_value: int | float


def encode_chunk(
    steps: Sequence[Any], values: Sequence[Any], times: Sequence[Any]
) -> tuple[bytes, ChunkSummary]:
    """Pack one chunk's columns (equal lengths, at least one point) into a blob and its summary."""
    count = len(values)
    step_kind, step_payload, low, high = _pack_steps(steps)
    value_kind, value_payload = _pack_values(values)
    time_kind, time_payload = _pack_numbers(times, "d")
    parts = [_HEADER.pack(_MAGIC, count)]
    for kind, payload in (
        (step_kind, step_payload),
        (value_kind, value_payload),
        (time_kind, time_payload),
    ):
        codec, packed = _deflated(payload) if kind in (b"q", b"d") else (b"-", payload)
        parts.append(_COLUMN.pack(kind, codec, len(packed)))
        parts.append(packed)
    numbers: Sequence[Any] = values  # the logged objects: no float made per point ...
    least, most = _value_range(numbers)
    if value_kind == b"d" and (type(least) is int or type(most) is int):
        numbers = array("d", values)  # ... unless an int among floats reads back rounded
        least, most = _value_range(numbers)
    summary = ChunkSummary(
        count=count,
        low_step=low,
        high_step=high,
        first_time=times[0],
        last_time=times[-1],
        min_value=least,
        max_value=most,
        min_at=None if least is None else numbers.index(least),
        max_at=None if most is None else numbers.index(most),
        last_value=values[-1],
    )
    return b"".join(parts), summary


def encode_chunks(
    steps: Sequence[Any], values: Sequence[Any], times: Sequence[Any]
) -> Iterator[tuple[int, bytes, ChunkSummary]]:
    """Pack points into chunks: ``(offset, blob, summary)`` each.

    No points make no chunk, fewer than :data:`CHUNK_POINTS` one; more are cut into as many
    *full* chunks as they fill, of equal sizes (at least ``CHUNK_POINTS``, under twice that),
    so that no small chunk is left over.
    """
    if not values:
        return
    parts = max(1, len(values) // CHUNK_POINTS)
    size, longer = divmod(len(values), parts)
    start = 0
    for part in range(parts):
        end = start + size + (part < longer)
        window = slice(start, end)
        yield (start, *encode_chunk(steps[window], values[window], times[window]))
        start = end


def decode_chunks(blobs: Iterable[bytes]) -> SeriesColumns:
    """The points of consecutive chunks, joined into one :class:`SeriesColumns`.

    A blob that is not a well-formed chunk of at most :data:`MAX_CHUNK_POINTS` points raises
    ValueError before anything is unpacked beyond its own size.
    """
    try:
        return _decoded(blobs)
    except (struct.error, zlib.error) as error:  # a truncated header or run, a corrupt deflate
        raise ValueError(f"a malformed chunk ({error})") from None


def _decoded(blobs: Iterable[bytes]) -> SeriesColumns:
    steps, values, times = _Column(), _Column(), _Column()
    for blob in blobs:
        magic, count = _HEADER.unpack_from(blob)
        if magic != _MAGIC:
            raise ValueError(f"not a track chunk (starts {bytes(blob[:3])!r})")
        if not 0 < count <= MAX_CHUNK_POINTS:
            raise ValueError(f"a chunk of {count} points (at most {MAX_CHUNK_POINTS})")
        offset = _HEADER.size
        for column in (steps, values, times):
            kind, codec, length = _COLUMN.unpack_from(blob, offset)
            offset += _COLUMN.size
            payload = blob[offset : offset + length]
            offset += length
            column.add(kind, codec, payload, count)
    return SeriesColumns(steps.result(), values.result(), times.result())


# ---- packing ---------------------------------------------------------------------------------


def _step_run(steps: Sequence[Any]) -> tuple[int, int] | None:
    """``(first, difference)`` when the steps are ints that go up or down by a constant (the
    usual 0, 1, 2, ...), found by comparing whole sequences rather than packing them first.
    Two steps or fewer are not a run: packed as int64 they take no more than a run's 16 bytes."""
    count = len(steps)
    if count < 3:
        return None
    first, second = steps[0], steps[1]
    if type(first) is not int or type(second) is not int:
        return None
    difference = second - first
    last = first + difference * (count - 1)
    if not (
        min(first, last, difference) >= INT64_MIN and max(first, last, difference) <= INT64_MAX
    ):
        return None
    if difference:
        whole = steps if isinstance(steps, tuple) else tuple(steps)
        same = whole == tuple(range(first, last + difference, difference))
    else:
        same = steps.count(first) == count
    # 2.0 == 2: equal values alone would let a float step pass for an int, but a float among
    # ints makes their sum a float (step_value leaves only ints, floats, str and None)
    return (first, difference) if same and type(sum(steps)) is int else None


def _pack_steps(steps: Sequence[Any]) -> tuple[bytes, bytes, Any, Any]:
    """(kind, payload, lowest, highest) of a step column; the bounds leave NaN and
    non-numbers out (None: no numeric step)."""
    run = _step_run(steps)
    if run is not None:
        first, difference = run
        last = first + difference * (len(steps) - 1)
        return b"r", _RUN.pack(first, difference), min(first, last), max(first, last)
    try:
        packed = array("q", steps)  # no bool among steps: step_value made them ints
    except (TypeError, OverflowError):
        packed = None
    if packed is not None:
        return b"q", _raw(packed), min(packed), max(packed)
    kinds = set(map(type, steps))
    if kinds == {int}:  # an int beyond int64
        return b"j", json.dumps(list(steps)).encode(), min(steps), max(steps)
    if kinds == {float}:
        floats = array("d", steps)
        low, high = _value_range(floats)
        return b"d", _raw(floats), low, high
    if kinds == {type(None)}:
        return b"n", b"", None, None
    numbers = [s for s in steps if isinstance(s, (int, float)) and s == s]
    payload = json.dumps(list(steps)).encode()
    return b"j", payload, min(numbers, default=None), max(numbers, default=None)


def _pack_values(values: Sequence[Any]) -> tuple[bytes, bytes]:
    """(kind, payload): int64 if every value is an int that fits, else float64;
    JSON when every value is an int but one is beyond int64, or when an int beside floats is
    too large for any float64."""
    try:
        ints = array("q", values)
    except TypeError:  # a float among the values
        pass
    except OverflowError:  # an int beyond int64, met before any float: is there a float?
        if not any(isinstance(v, float) for v in values):
            return b"j", json.dumps(list(values)).encode()
    else:
        return b"q", _raw(ints)
    try:
        floats = array("d", values)
    except OverflowError:  # an int too large for any float64 beside floats: kept as given
        return b"j", json.dumps(list(values)).encode()
    return b"d", _raw(floats)


def _value_range(numbers: Sequence[Any]) -> tuple[Any, Any]:
    """The min and max of the values, NaN left out (None: every value is NaN).

    ``min`` and ``max`` pass over a NaN (it compares false) unless it comes first, when it
    sticks: so a result that is not NaN is right, and only a NaN result needs a second look.
    """
    least, most = min(numbers), max(numbers)
    if least == least and most == most:
        return least, most
    finite = [v for v in numbers if v == v]  # NaN is the one value unequal to itself
    return min(finite, default=None), max(finite, default=None)


def _pack_numbers(numbers: Sequence[Any], code: str) -> tuple[bytes, bytes]:
    try:
        return code.encode(), _raw(array(code, numbers))
    except (TypeError, OverflowError):
        return b"j", json.dumps(list(numbers)).encode()


def _raw(numbers: array[Any]) -> bytes:
    if _BIG_ENDIAN:
        numbers = array(numbers.typecode, numbers)
        numbers.byteswap()
    return numbers.tobytes()


def _deflated(raw: bytes) -> tuple[bytes, bytes]:
    """(codec, payload): shuffled and deflated (``z``), or as it was (``-``) if that is no smaller."""
    shuffled = b"".join(raw[i::8] for i in range(8))
    if len(raw) > _SAMPLE:
        sample = b"".join(raw[i : _SAMPLE * 8 : 8] for i in range(8))[:_SAMPLE]
        if len(zlib.compress(sample, 1)) > _INCOMPRESSIBLE * len(sample):
            return b"-", raw
    packed = zlib.compress(shuffled, 1)
    if len(packed) >= len(raw):
        return b"-", raw
    return b"z", packed


def _inflate_into(codec: bytes, payload: bytes, out: bytearray, offset: int, count: int) -> None:
    """Write one packed column of ``count`` 8-byte numbers into ``out`` at ``offset``."""
    if codec == b"-":
        if len(payload) != 8 * count:
            raise ValueError(f"a packed column does not hold {count} numbers")
        out[offset : offset + 8 * count] = payload
        return
    if codec != b"z":
        raise ValueError(f"unknown chunk codec {codec!r}")
    inflater = zlib.decompressobj()
    shuffled = inflater.decompress(payload, 8 * count)
    if len(shuffled) != 8 * count or inflater.unconsumed_tail or not inflater.eof:
        raise ValueError(f"a packed column does not hold {count} numbers")
    end = offset + 8 * count
    for i in range(8):
        out[offset + i : end : 8] = shuffled[i * count : (i + 1) * count]


def _numbers(code: str, parts: Sequence[tuple[bytes, bytes, int]]) -> array[Any]:
    """One array of the packed ``(codec, payload, count)`` parts of one kind."""
    raw = bytearray(8 * sum(count for _, _, count in parts))
    offset = 0
    for codec, payload, count in parts:
        _inflate_into(codec, payload, raw, offset, count)
        offset += 8 * count
    numbers = array(code)
    numbers.frombytes(raw)
    if _BIG_ENDIAN:
        numbers.byteswap()
    return numbers


class _Column:
    """One column being joined from chunks, kept as parts until :meth:`result` joins them once.

    Runs of steps that continue each other join into one ``range``; packed numbers of one kind
    into one ``array``; anything else into a list.
    """

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[tuple[bytes, bytes, Any, int]] = []

    def add(self, kind: bytes, codec: bytes, payload: bytes, count: int) -> None:
        if kind == b"r":
            first, difference = _RUN.unpack(payload)
            if self.parts and self.parts[-1][0] == b"r":
                _, _, (start, step), total = self.parts[-1]
                if difference == step and first == start + step * total:
                    self.parts[-1] = (b"r", codec, (start, step), total + count)
                    return
            self.parts.append((b"r", codec, (first, difference), count))
        elif kind in (b"q", b"d", b"n", b"j"):
            self.parts.append((kind, codec, payload, count))
        else:
            raise ValueError(f"unknown chunk column kind {kind!r}")

    def result(self) -> Sequence[Any]:
        kinds = {kind for kind, _, _, _ in self.parts}
        if len(kinds) == 1 and (kinds <= {b"q", b"d"} or len(self.parts) == 1):
            kind = self.parts[0][0]
            if kind in (b"q", b"d"):
                return _numbers(kind.decode(), [part[1:] for part in self.parts])
        joined: list[Any] = []
        for part in self.parts:
            items = _part_items(*part)
            if len(self.parts) == 1:
                return items
            joined.extend(items)
        return joined


def _part_items(kind: bytes, codec: bytes, payload: Any, count: int) -> Sequence[Any]:
    """The items of one column part."""
    if kind == b"r":
        first, difference = payload
        if difference:
            return range(first, first + difference * count, difference)
        return [first] * count
    if kind in (b"q", b"d"):
        return _numbers(kind.decode(), [(codec, payload, count)])
    if kind == b"n":
        return [None] * count
    items = json.loads(payload)
    if not isinstance(items, list) or len(items) != count:
        raise ValueError(f"a JSON column does not hold {count} items")
    return items
