"""The chunk codec (``track.persistence.chunks``): what SQL stores and the wire keep points in.

Any columns round-trip exactly: steps of every kind (None, int64 and beyond, float with NaN and
infinities, str, mixed), values (int, float, NaN, +-inf, ints beyond int64), float times; the
one documented change is that an int beside floats in one chunk reads back as a float.
Summaries describe their chunk; malformed blobs raise ValueError without unpacking more than
their own size.
"""

from __future__ import annotations

import contextlib
import math
import struct
import tracemalloc
import zlib
from array import array
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from track.persistence.chunks import (
    CHUNK_POINTS,
    MAX_CHUNK_POINTS,
    SeriesColumns,
    decode_chunks,
    encode_chunk,
    encode_chunks,
)

INT64 = (-(2**63), 2**63 - 1)
NAN, INF = float("nan"), float("inf")
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- strategies ------------------------------------------------------------------------------

int64s = st.integers(*INT64)
edge_ints = st.sampled_from([INT64[0], INT64[0] + 1, -1, 0, 1, INT64[1] - 1, INT64[1]])
big_ints = st.one_of(st.integers(2**63, 2**80), st.integers(-(2**80), -(2**63) - 1))
huge_ints = st.sampled_from([2**1100, -(2**1100)])  # beyond any float64
floats = st.floats(allow_nan=True, allow_infinity=True)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)

step = st.one_of(st.none(), int64s, edge_ints, big_ints, floats, st.text(max_size=4))
value = st.one_of(int64s, edge_ints, big_ints, huge_ints, floats)
int_value = st.one_of(int64s, edge_ints, big_ints, huge_ints)
float_value = st.one_of(floats, st.sampled_from([NAN, INF, -INF, -0.0]))


@st.composite
def step_columns(draw: st.DrawFn, size: int) -> list[Any]:
    """Steps of one kind (the usual case, packed) or mixed kinds (JSON), or an arithmetic run."""
    kind = draw(st.sampled_from(["run", "ints", "floats", "none", "mixed"]))
    if kind == "run":
        first = draw(st.integers(-(2**40), 2**40))
        difference = draw(st.integers(-1000, 1000))
        return (
            list(range(first, first + difference * size, difference))
            if difference
            else [first] * size
        )
    if kind == "ints":
        return draw(st.lists(st.one_of(int64s, edge_ints), min_size=size, max_size=size))
    if kind == "floats":
        return draw(st.lists(floats, min_size=size, max_size=size))
    if kind == "none":
        return [None] * size
    return draw(st.lists(step, min_size=size, max_size=size))


@st.composite
def value_columns(draw: st.DrawFn, size: int) -> list[Any]:
    """Values all int (packed as int64 or JSON), all float, or mixed."""
    kind = draw(st.sampled_from(["ints", "int64", "floats", "mixed"]))
    element = {"ints": int_value, "int64": int64s, "floats": float_value, "mixed": value}[kind]
    return draw(st.lists(element, min_size=size, max_size=size))


@st.composite
def chunk_columns(draw: st.DrawFn, max_size: int = 60) -> tuple[list[Any], list[Any], list[Any]]:
    """Equal-length (steps, values, times) of one chunk, at least one point."""
    size = draw(st.integers(1, max_size))
    times = draw(st.lists(finite_floats, min_size=size, max_size=size))
    return draw(step_columns(size)), draw(value_columns(size)), times


# ---- what a round trip must give -------------------------------------------------------------


def same(found: Any, expected: Any) -> bool:
    """Equal with the same type; NaN equals NaN and -0.0 differs from 0.0."""
    if type(found) is not type(expected):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(found)
        return found == expected and math.copysign(1, found) == math.copysign(1, expected)
    return bool(found == expected)


def same_list(found: Any, expected: list[Any]) -> bool:
    """Position-wise :func:`same`."""
    found = list(found)
    return len(found) == len(expected) and all(map(same, found, expected))


def read_values(values: list[Any]) -> list[Any]:
    """The values one chunk reads back (the rule in the module docstring of chunks.py).

    Ints stay ints when every value of the chunk is an int; beside a float an int reads back
    as a float, unless it is too large for any float64 (then the chunk keeps them as given).
    """
    if all(type(v) is int for v in values):
        return values
    try:
        return [float(v) for v in values]
    except OverflowError:
        return values


def numeric(steps: list[Any]) -> list[int | float]:
    """The steps a step range can hold: ints and floats, NaN left out."""
    return [s for s in steps if isinstance(s, (int, float)) and s == s]


def check_round_trip(blobs: list[bytes], chunks: list[tuple[list[Any], ...]]) -> None:
    columns = decode_chunks(blobs)
    steps = [s for c in chunks for s in c[0]]
    values = [v for c in chunks for v in read_values(c[1])]
    times = [t for c in chunks for t in c[2]]
    assert len(columns) == len(values)
    assert same_list(columns.steps, steps)
    assert same_list(columns.values, values)
    assert same_list(columns.times, times)
    assert len(columns.points()) == len(values)


# ---- round trips -----------------------------------------------------------------------------


@SETTINGS
@given(chunk_columns())
def test_one_chunk_round_trips_exactly(columns: tuple[list[Any], list[Any], list[Any]]) -> None:
    """Steps and times come back as given, values by the documented rule, in order."""
    blob, _ = encode_chunk(*columns)
    check_round_trip([blob], [columns])


@SETTINGS
@given(st.lists(chunk_columns(max_size=20), min_size=1, max_size=6))
def test_consecutive_chunks_join_whatever_their_kinds(
    chunks: list[tuple[list[Any], list[Any], list[Any]]],
) -> None:
    """Chunks of different step and value kinds (an int64 chunk after a float or JSON one, a
    run continuing another, ...) join into one series, each chunk read by its own kind."""
    check_round_trip([encode_chunk(*c)[0] for c in chunks], chunks)


@SETTINGS
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=5), st.integers(-100, 100))
def test_runs_that_continue_each_other_join(sizes: list[int], first: int) -> None:
    """Arithmetic runs cut into chunks (each packed as two numbers) read back as the run."""
    difference = sizes[0]
    lengths = [abs(s) + 1 for s in sizes]
    steps = list(range(first, first + difference * sum(lengths), difference or 1))
    if not difference:
        steps = [first] * sum(lengths)
    blobs, start, chunks = [], 0, []
    for length in lengths:
        part = steps[start : start + length]
        chunk = (part, [1.5] * length, [0.0] * length)
        blobs.append(encode_chunk(*chunk)[0])
        chunks.append(chunk)
        start += length
    check_round_trip(blobs, chunks)


@pytest.mark.parametrize("at", [0, 1, 2, 5])
def test_a_float_equal_to_its_place_in_a_run_breaks_the_run(at: int) -> None:
    """0, 1, 2.0, 3 compares equal to a run of ints, but the 2.0 must read back as a float."""
    for steps in (list(range(6)), [7] * 6):
        steps[at] = float(steps[at])
        check_round_trip(
            [encode_chunk(steps, [1.5] * 6, [0.0] * 6)[0]], [(steps, [1.5] * 6, [0.0] * 6)]
        )


def test_int64_edges_and_ints_beyond_stay_ints() -> None:
    """Steps and values at and beyond the int64 bounds come back as the same ints."""
    edges = [INT64[0], INT64[1], 0, -1, 2**63, -(2**63) - 1, 2**200]
    for steps, values in [
        (edges, edges),
        ([INT64[0], INT64[1]], [INT64[1], INT64[0]]),
        ([INT64[1]] * 3, [2**64] * 3),
        ([INT64[1] - 2, INT64[1] - 1, INT64[1]], [0, 1, 2]),
        ([INT64[0], INT64[0] + 1, INT64[0] + 2], [0, 1, 2]),
    ]:
        blob, _ = encode_chunk(steps, values, [1.0] * len(values))
        check_round_trip([blob], [(steps, values, [1.0] * len(values))])


def test_an_int_beside_floats_reads_back_as_a_float() -> None:
    """The documented rule, in both orders, with an int beyond int64 too."""
    for values, expected in [
        ([1, 2.5, 3], [1.0, 2.5, 3.0]),
        ([2.5, 1], [2.5, 1.0]),
        ([NAN, 7], [NAN, 7.0]),
        ([2**70, 1.5], [float(2**70), 1.5]),
        ([1.5, 2**70], [1.5, float(2**70)]),
    ]:
        blob, _ = encode_chunk([0] * len(values), values, [0.0] * len(values))
        assert same_list(decode_chunks([blob]).values, expected), values
    ints = decode_chunks([encode_chunk([0, 1], [3, 4], [0.0, 0.0])[0]]).values
    assert [type(v) for v in ints] == [int, int]


def test_an_int_too_large_for_a_float_beside_floats_is_kept_as_given() -> None:
    """No float64 holds 2**1100: such a chunk keeps every value as it was logged."""
    for values in ([2**1100, 1.5, NAN], [1.5, -(2**1100)], [INF, 2**1100, -INF]):
        blob, summary = encode_chunk([0] * len(values), values, [0.0] * len(values))
        assert same_list(decode_chunks([blob]).values, values)
        finite = [v for v in values if v == v]
        assert summary.min_value == min(finite) and summary.max_value == max(finite)


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (0, []),
        (1, [1]),
        (CHUNK_POINTS - 1, [CHUNK_POINTS - 1]),
        (CHUNK_POINTS, [CHUNK_POINTS]),
        (2 * CHUNK_POINTS - 1, [2 * CHUNK_POINTS - 1]),
        (2 * CHUNK_POINTS + 101, [CHUNK_POINTS + 51, CHUNK_POINTS + 50]),
        (3 * CHUNK_POINTS + 2, [CHUNK_POINTS + 1, CHUNK_POINTS + 1, CHUNK_POINTS]),
    ],
)
def test_encode_chunks_cuts_full_chunks_of_equal_sizes(count: int, sizes: list[int]) -> None:
    """No points are no chunk, under CHUNK_POINTS one; more are as many full chunks as they fill, of
    equal sizes (the first ones a point longer), in order, none left over small."""
    steps = list(range(count))
    values = [math.sin(i / 50) for i in range(count)]
    times = [1.7e9 + i / 10 for i in range(count)]
    cut = list(encode_chunks(steps, values, times))
    assert [s.count for _, _, s in cut] == sizes
    assert [offset for offset, _, _ in cut] == [sum(sizes[:i]) for i in range(len(sizes))]
    columns = decode_chunks(blob for _, blob, _ in cut)
    assert list(columns.steps) == steps
    assert list(columns.values) == values and list(columns.times) == times


def test_packed_columns_are_arrays_numpy_reads_without_a_copy() -> None:
    """int64 and float64 columns come back as arrays of those types."""
    columns = decode_chunks([encode_chunk([3, 1, 2], [1, 2, 3], [0.5, 1.5, 2.5])[0]])
    assert isinstance(columns.steps, array) and columns.steps.typecode == "q"
    assert isinstance(columns.values, array) and columns.values.typecode == "q"
    assert isinstance(columns.times, array) and columns.times.typecode == "d"
    floats = decode_chunks([encode_chunk([None], [0.5], [0.0])[0]]).values
    assert isinstance(floats, array) and floats.typecode == "d"


# ---- summaries -------------------------------------------------------------------------------


@SETTINGS
@given(chunk_columns())
def test_summary_describes_the_chunk(columns: tuple[list[Any], list[Any], list[Any]]) -> None:
    """Count, step bounds (numeric steps, NaN left out), first and last time, value min and max
    (NaN left out, None when all NaN) with the first position of each, and the last value."""
    steps, values, times = columns
    _, summary = encode_chunk(steps, values, times)
    assert summary.count == len(values)
    bounded = numeric(steps)
    assert summary.low_step == min(bounded, default=None)
    assert summary.high_step == max(bounded, default=None)
    assert summary.first_time == times[0] and summary.last_time == times[-1]
    assert same(summary.last_value, values[-1])
    read = read_values(values)
    finite = [v for v in read if v == v]
    if not finite:
        assert summary.min_value is None and summary.max_value is None
        assert summary.min_at is None and summary.max_at is None
        return
    assert summary.min_value == min(finite) and summary.max_value == max(finite)
    assert summary.min_at == next(i for i, v in enumerate(read) if v == summary.min_value)
    assert summary.max_at == next(i for i, v in enumerate(read) if v == summary.max_value)


def test_summary_of_mixed_steps_bounds_the_numeric_ones() -> None:
    """A chunk of ints and floats, or of numbers beside None and strings, still says where its
    numbers are (a step range read relies on it); a chunk without numbers says None."""
    for steps, low, high in [
        ([1, 2.5, 4], 1, 4),
        ([None, 3, None, 7], 3, 7),
        (["a", 2.0, "b", -1], -1, 2.0),
        ([NAN, 5.0, 1.0], 1.0, 5.0),
        ([None, "x"], None, None),
        ([NAN, NAN], None, None),
    ]:
        _, summary = encode_chunk(steps, [0] * len(steps), [0.0] * len(steps))
        assert (summary.low_step, summary.high_step) == (low, high), steps


@SETTINGS
@given(
    st.one_of(
        st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=300),
        st.lists(floats, min_size=1, max_size=300),
    ),
    st.random_module(),
)
def test_a_numeric_chunk_never_takes_more_than_its_raw_numbers(steps: list[Any], _: Any) -> None:
    """Int or float steps, float values (noise included) and times: the blob is at most 24
    bytes a point plus its fixed headers (7 for the chunk, 6 per column), whatever deflate
    makes of them (docs/sql.md)."""
    import random

    count = len(steps)
    values = [random.random() for _ in range(count)]
    times = [random.uniform(0, 2e9) for _ in range(count)]
    blob, _ = encode_chunk(steps, values, times)
    assert len(blob) <= 7 + 3 * 6 + 24 * count


# ---- SeriesColumns ---------------------------------------------------------------------------


@SETTINGS
@given(
    st.lists(st.one_of(st.none(), st.integers(-50, 50), floats, st.text(max_size=2)), max_size=40),
    st.one_of(st.none(), st.integers(-60, 60), st.floats(-60, 60)),
    st.one_of(st.none(), st.integers(-60, 60), st.floats(-60, 60)),
)
def test_between_keeps_numeric_steps_within_the_bounds(
    steps: list[Any], low: Any, high: Any
) -> None:
    """Inclusive bounds, either may be None; None, str and NaN steps are never within a range;
    no bound at all keeps every point; order is kept."""
    points = [[s, float(i), float(i)] for i, s in enumerate(steps)]
    columns = SeriesColumns.from_points(points)
    found = columns.between(low, high)
    if low is None and high is None:
        assert found is columns
        return
    kept = [
        p
        for p in points
        if isinstance(p[0], (int, float))
        and (low is None or p[0] >= low)
        and (high is None or p[0] <= high)
    ]
    assert len(found) == len(kept)
    assert [p[1] for p in found.points()] == [p[1] for p in kept]
    assert same_list(found.steps, [p[0] for p in kept])
    assert list(found.times) == [p[2] for p in kept]


def test_series_columns_basics() -> None:
    """Points in and out, length, equality by points, and a window of packed arrays."""
    points = [[0, 1.0, 10.0], [1, 2.0, 11.0], [2, 3.0, 12.0], [None, 4.0, 13.0]]
    columns = SeriesColumns.from_points(points)
    assert len(columns) == 4 and columns.points() == points
    assert columns == SeriesColumns.from_points([list(p) for p in points])
    assert columns != SeriesColumns.from_points(points[:3])
    assert len(SeriesColumns()) == 0 and SeriesColumns().points() == []
    packed = decode_chunks([encode_chunk([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0], [0.0] * 4)[0]])
    window = packed.between(1, 2)
    assert window.points() == [[1, 2.0, 0.0], [2, 3.0, 0.0]]
    assert isinstance(window.values, array)
    assert packed.between(10, None).points() == []


# ---- malformed blobs -------------------------------------------------------------------------

#: a chunk of every column kind, to cut and corrupt: JSON steps, packed values, packed times
SAMPLES = [
    encode_chunk([1, 2.5, "x"], [1, 2, 3], [0.0, 1.0, 2.0])[0],
    encode_chunk(
        list(range(0, 3000, 3)), [i / 7 for i in range(1000)], [float(i) for i in range(1000)]
    )[0],
    encode_chunk([5, 1, 9, 2], [2**70, 1, 2, 3], [0.5, 0.25, 0.125, 1.0])[0],
    encode_chunk([None, None], [NAN, INF], [1.0, 2.0])[0],
]


def raises_value_error(blob: bytes) -> None:
    with pytest.raises(ValueError):
        decode_chunks([blob])


def header(count: int, magic: bytes = b"TC\x01") -> bytes:
    return struct.pack("<3sI", magic, count)


def column(kind: bytes, codec: bytes, payload: bytes) -> bytes:
    return struct.pack("<ccI", kind, codec, len(payload)) + payload


def test_bad_magic_and_bad_counts_are_refused() -> None:
    """Not a chunk, or a count of 0 or above MAX_CHUNK_POINTS, before any column is read."""
    good = SAMPLES[0]
    raises_value_error(b"XX\x01" + good[3:])
    raises_value_error(b"TC\x02" + good[3:])
    raises_value_error(header(0) + good[7:])
    raises_value_error(header(MAX_CHUNK_POINTS + 1) + good[7:])
    raises_value_error(header(2**32 - 1) + good[7:])
    none = column(b"n", b"-", b"")
    assert len(decode_chunks([header(CHUNK_POINTS) + none * 3])) == CHUNK_POINTS


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_every_truncation_is_refused(sample: int) -> None:
    """A blob cut anywhere (header, column header, payload) raises ValueError."""
    blob = SAMPLES[sample]
    decode_chunks([blob])
    for cut in range(len(blob)):
        raises_value_error(blob[:cut])


def test_columns_that_do_not_hold_count_items_are_refused() -> None:
    """Each kind of column is checked against the chunk's count."""
    three = header(3)
    times = column(b"d", b"-", struct.pack("<3d", 0, 1, 2))
    steps = column(b"n", b"-", b"")
    for values in [
        column(b"q", b"-", struct.pack("<2q", 1, 2)),  # 2 raw numbers, not 3
        column(b"d", b"-", struct.pack("<4d", 1, 2, 3, 4)),
        column(b"q", b"z", zlib.compress(struct.pack("<2q", 1, 2))),
        column(b"j", b"-", b"[1, 2]"),
        column(b"j", b"-", b'{"a": 1}'),
        column(b"j", b"-", b"[1, 2,"),
        column(b"j", b"-", b"\xff\xfe"),
        column(b"r", b"-", b"\x01\x02"),  # a run is two int64
        column(b"x", b"-", b""),  # unknown kind
        column(b"q", b"y", b"\x00" * 24),  # unknown codec
        column(b"q", b"z", b"not deflate at all"),
    ]:
        raises_value_error(three + steps + values + times)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_a_corrupted_blob_decodes_or_raises_value_error(blob: bytes, data: st.DataObject) -> None:
    """Flipped bytes anywhere: the blob decodes (into something) or raises ValueError, never
    another exception (struct.error, zlib.error, OverflowError, ...)."""
    position = data.draw(st.integers(0, len(blob) - 1))
    flipped = bytearray(blob)
    flipped[position] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(ValueError):
        decode_chunks([bytes(flipped)])


def test_a_zlib_bomb_is_refused_without_inflating_it() -> None:
    """A packed column inflating far beyond 8 * count stops at that size: ValueError, and
    decoding allocates about nothing (the payload would inflate to 16 MiB)."""
    bomb = zlib.compress(b"\x00" * (16 << 20), 9)
    blob = header(2) + column(b"n", b"-", b"") + column(b"q", b"z", bomb) + column(b"n", b"-", b"")
    tracemalloc.start()
    try:
        raises_value_error(blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
