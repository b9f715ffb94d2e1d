"""SQL stores keep points in chunks (``track.persistence.sql.series``), on SQLite and PostgreSQL.

Any sequence of flushes (small ones leaving open chunks, big ones beyond a chunk, several
series at once, steps None/int/float/str) interleaved with reads returns exactly the points
logged, in order; compaction keeps each series' open chunks below ``MERGE_AT`` and its chunk
rows near ``count / CHUNK_POINTS``; a batch applied twice stores its points once.

The property tests shrink ``CHUNK_POINTS`` and ``MERGE_AT`` (the codec's and the store's
module attributes, both read at call time) so that a few dozen points go through every path.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from chunklayout import check_chunk_layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from track.errors import WriteRefused
from track.persistence import chunks
from track.persistence.protocol import TrialBatch
from track.persistence.sql import SQLProtocol, series
from track.structure import Trial

SMALL_CHUNK, SMALL_MERGE = 8, 3
NAN, INF = float("nan"), float("inf")
NAMES = ["loss", "acc", "lr"]
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_trials = count()

Point = tuple[Any, Any, float]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fresh_postgres: Callable[..., AbstractContextManager[str]],
) -> Iterator[SQLProtocol]:
    """An empty SQL store of each kind (each example of a property test uses its own trial)."""
    if request.param == "sqlite":
        opened = SQLProtocol(f"sqlite:///{tmp_path / 'store.db'}")
        yield opened
        opened.close()
        return
    with fresh_postgres() as uri:
        opened = SQLProtocol(uri)
        yield opened
        opened.close()


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 8 points, merged at 3 open chunks."""
    monkeypatch.setattr(chunks, "CHUNK_POINTS", SMALL_CHUNK)
    monkeypatch.setattr(series, "CHUNK_POINTS", SMALL_CHUNK)
    monkeypatch.setattr(series, "MERGE_AT", SMALL_MERGE)


def new_trial(store: SQLProtocol) -> Trial:
    trial = store.new_trial(Trial(name="chunks", parameters={"n": next(_trials)}))
    assert trial is not None
    return trial


# ---- what the store must give back -----------------------------------------------------------


def same_step(found: Any, expected: Any) -> bool:
    """The same step, of the same type (NaN equals NaN)."""
    if type(found) is not type(expected):
        return False
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(found)
    return bool(found == expected)


def same_value(found: Any, expected: Any, ints_only: bool) -> bool:
    """A float comes back as that float; an int as that int, or as a float when its chunk also
    held a float (the codec's rule), never when its series never held one."""
    if isinstance(expected, float):
        both_nan = found != found and expected != expected
        return isinstance(found, float) and (found == expected or both_nan)
    if ints_only:
        return type(found) is int and found == expected
    return type(found) in (int, float) and found == expected


def check_series(found: Any, expected: list[Point], ints_only: bool) -> None:
    """``found`` (points or SeriesColumns) holds exactly ``expected``, in order."""
    points = found.points() if hasattr(found, "points") else found
    assert len(points) == len(expected)
    for got, (step, value, when) in zip(points, expected, strict=True):
        assert same_step(got[0], step), (got, step)
        assert same_value(got[1], value, ints_only), (got, value)
        assert got[2] == when


def within(step: Any, low: Any, high: Any) -> bool:
    """The step-range rule: numeric steps within the inclusive bounds (no bound: any step)."""
    return (low is None and high is None) or (
        isinstance(step, (int, float))
        and (low is None or step >= low)
        and (high is None or step <= high)
    )


def check_reads(
    store: SQLProtocol, trial: Trial, logged: dict[str, list[Point]], read: Any
) -> None:
    """Every read API agrees with what was logged."""
    _, names, low, high = read
    ints_only = {name: all(type(p[1]) is int for p in points) for name, points in logged.items()}
    everything = store.get_trial_metrics(trial)
    assert set(everything) == set(logged)
    for name, points in logged.items():
        check_series(everything[name], points, ints_only[name])
    chosen = store.get_trial_metrics(trial, names)
    assert set(chosen) == {n for n in names if n in logged}
    columns = store.get_trial_series(trial, names, low, high)
    assert set(columns) == set(chosen)
    for name in columns:
        kept = [p for p in logged[name] if within(p[0], low, high)]
        check_series(chosen[name], logged[name], ints_only[name])
        check_series(columns[name], kept, ints_only[name])


def check_layout(store: SQLProtocol, trial: Trial, logged: dict[str, list[Point]]) -> None:
    counts = {name: len(points) for name, points in logged.items()}
    check_chunk_layout(store, trial, counts, series.CHUNK_POINTS, series.MERGE_AT)


def check_summaries(store: SQLProtocol, trial: Trial, logged: dict[str, list[Point]]) -> None:
    """Count, min and max (NaN left out) kept on write agree with the points."""
    ((_, summaries),) = store.fetch_summaries({"uid": trial.uid})
    assert set(summaries) == set(logged)
    for name, points in logged.items():
        finite = [p[1] for p in points if p[1] == p[1]]
        total, low, high = summaries[name]
        assert total == len(points)
        assert low == min(finite, default=None) and high == max(finite, default=None)


# ---- the property ----------------------------------------------------------------------------

steps = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-20, 20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-20, 20),
    st.text(st.characters(exclude_characters="\x00"), max_size=3),  # NUL: refused at log time
)
values = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=True, allow_infinity=True))


@st.composite
def flushes(draw: st.DrawFn) -> tuple[str, dict[str, list[tuple[Any, Any]]]]:
    """One flush: 1 to 3 series, each 1 to 2.5 chunks of points; steps of one kind or mixed."""
    chosen = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    batch = {}
    for name in chosen:
        size = draw(st.integers(1, SMALL_CHUNK * 5 // 2))
        if draw(st.booleans()):  # a counter, the common case
            first = draw(st.integers(-5, 5))
            points_steps: list[Any] = list(range(first, first + size))
        else:
            points_steps = draw(st.lists(steps, min_size=size, max_size=size))
        kind = draw(st.sampled_from(["ints", "floats", "any"]))
        element = {"ints": st.integers(-(2**53), 2**53), "floats": st.floats(), "any": values}
        points_values = draw(st.lists(element[kind], min_size=size, max_size=size))
        batch[name] = list(zip(points_steps, points_values, strict=True))
    return ("flush", batch)


bounds = st.one_of(st.none(), st.integers(-25, 25), st.floats(-25, 25))
reads = st.tuples(
    st.just("read"), st.lists(st.sampled_from([*NAMES, "missing"]), unique=True), bounds, bounds
)


@SETTINGS
@given(st.lists(st.one_of(flushes(), reads), min_size=1, max_size=12))
def test_any_flushes_and_reads_return_exactly_what_was_logged(
    store: SQLProtocol, small_chunks: None, operations: list[Any]
) -> None:
    """Flushes and reads in any order; after each flush the layout is compact."""
    trial, writer = new_trial(store), uuid.uuid4().hex
    logged: dict[str, list[Point]] = {}
    clock = count(1)
    for seq, operation in enumerate(operations, 1):
        if operation[0] == "read":
            check_reads(store, trial, logged, operation)
            continue
        metrics = []
        for name, points in operation[1].items():
            for step, value in points:
                point = (step, value, float(next(clock)))
                metrics.append((name, *point))
                logged.setdefault(name, []).append(point)
        assert store.log_trial_batch(trial, TrialBatch(writer=writer, seq=seq, metrics=metrics))
        check_layout(store, trial, logged)
    check_reads(store, trial, logged, ("read", NAMES, None, None))
    if logged:
        check_summaries(store, trial, logged)


# ---- the real sizes --------------------------------------------------------------------------


def log(
    store: SQLProtocol, trial: Trial, seq: int, points: list[Point], name: str = "loss"
) -> bool:
    batch = TrialBatch(writer="w", seq=seq, metrics=[(name, *p) for p in points])
    return store.log_trial_batch(trial, batch)


def test_real_chunk_sizes_merge_at_merge_at(store: SQLProtocol) -> None:
    """With the shipped CHUNK_POINTS and MERGE_AT: small flushes stay open chunks until the
    MERGE_AT-th, which merges them into one; a flush of more than a chunk is written as full
    chunks, sealing a lone open chunk as it is but merging two or more."""
    chunk_points, merge_at = series.CHUNK_POINTS, series.MERGE_AT
    assert chunk_points == chunks.CHUNK_POINTS
    trial = new_trial(store)
    logged: list[Point] = []
    seqs = count(1)

    def flush(points: list[Point]) -> list[int]:
        assert log(store, trial, next(seqs), points)
        logged.extend(points)
        check_layout(store, trial, {"loss": logged})
        return [p[1] for p in store.get_series_previews(trial)["loss"]]

    def points(count: int) -> list[Point]:
        start = len(logged)
        return [(start + i, math.sin(start + i), 100.0 + start + i) for i in range(count)]

    for _ in range(merge_at - 1):
        sizes = flush(points(1))
    assert sizes == [1] * (merge_at - 1)
    assert flush(points(1)) == [merge_at]
    big = chunk_points + 10
    assert flush(points(big)) == [merge_at, big]  # the lone open chunk is sealed as it is
    assert flush(points(2 * chunk_points + 1)) == [merge_at, big, chunk_points + 1, chunk_points]
    flush(points(3))
    assert flush(points(5))[-2:] == [3, 5]
    merged = flush(points(chunk_points))  # two open chunks: merged with it into one
    assert merged == [merge_at, big, chunk_points + 1, chunk_points, chunk_points + 8]
    check_series(store.get_trial_metrics(trial)["loss"], logged, False)
    low, high = chunk_points - 5, chunk_points + 5
    window = store.get_trial_series(trial, ["loss"], low, high)["loss"]
    check_series(window, [p for p in logged if low <= p[0] <= high], False)


def test_range_reads_find_numbers_in_chunks_of_mixed_steps(store: SQLProtocol) -> None:
    """A chunk of int and float steps, or of numbers beside None and strings, is still read by
    a step range that covers its numbers."""
    trial = new_trial(store)
    points: list[Point] = [(1, 1.0, 1.0), (2.5, 2.0, 2.0), (None, 3.0, 3.0), ("x", 4.0, 4.0)]
    assert log(store, trial, 1, points)
    found = store.get_trial_series(trial, ["loss"], 2, 3)["loss"]
    check_series(found, [(2.5, 2.0, 2.0)], False)
    found = store.get_trial_series(trial, ["loss"], None, 1)["loss"]
    check_series(found, [(1, 1.0, 1.0)], False)


# ---- exactly once ----------------------------------------------------------------------------


def test_a_batch_applied_twice_stores_its_points_once(
    store: SQLProtocol, small_chunks: None
) -> None:
    """A repeated (writer, seq) is refused whether it would append an open chunk or merge, and
    an older batch replayed after newer ones is refused too."""
    trial = new_trial(store)
    logged: list[Point] = []
    for seq in range(1, SMALL_MERGE):  # SMALL_MERGE - 1 open chunks: the next flush merges
        points = [(seq, float(seq), float(seq))]
        assert log(store, trial, seq, points)
        logged += points
        assert not log(store, trial, seq, points)  # would have appended an open chunk
    merging = [(10, 10.0, 10.0), (11, 11.0, 11.0)]
    assert not log(store, trial, 1, merging)  # an old seq: refused, not merged
    check_layout(store, trial, {"loss": logged})
    assert log(store, trial, SMALL_MERGE, merging)
    logged += merging
    assert not log(store, trial, SMALL_MERGE, merging)
    big = [(20 + i, float(i), float(i)) for i in range(SMALL_CHUNK * 2 + 1)]
    assert log(store, trial, SMALL_MERGE + 1, big)
    logged += big
    for seq in range(1, SMALL_MERGE + 2):
        assert not log(store, trial, seq, big)
    check_layout(store, trial, {"loss": logged})
    check_series(store.get_trial_metrics(trial)["loss"], logged, False)


def test_a_batch_holding_an_int_beyond_64_bits_is_refused_for_good(store: SQLProtocol) -> None:
    """Logging refuses such ints; a batch from elsewhere (an older client, a copy) that holds a
    step (or, on SQLite, a value) beyond 64 bits raises WriteRefused, which the pipeline spills rather than retrying forever, and leaves
    nothing of itself behind; the next batch is applied."""
    trial = new_trial(store)
    refused: list[Point] = [(2**70, 0.5, 1.0), (-(2**64), 0.5, 1.0)]
    if store.dialect.name == "sqlite":  # PostgreSQL keeps such a value (its summaries are floats)
        refused.append((1, 2**100, 1.0))
    for seq, point in enumerate(refused, 1):
        with pytest.raises(WriteRefused, match="beyond what the store keeps"):
            log(store, trial, seq, [(0, 0.25, 0.5), point])
    assert store.get_trial_metrics(trial) == {}
    assert log(store, trial, 1, [(0, 0.25, 0.5)])
    check_series(store.get_trial_metrics(trial)["loss"], [(0, 0.25, 0.5)], False)
