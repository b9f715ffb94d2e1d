"""track.retry: the one backoff policy of the pipeline, the SQL store and the server client.

Every test runs on a scripted clock: ``sleep`` records the wait and moves the clock by it, so
the waits and the deadline are checked exactly, without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from track.retry import retry


class Transient(Exception):
    """An error the tests call transient."""


class Permanent(Exception):
    """An error the tests call permanent."""


class Clock:
    """A clock that only moves when ``sleep`` is called; ``waits`` records each sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Script:
    """An action that raises ``errors`` in turn, then returns ``result``; counts its calls."""

    def __init__(self, errors: Sequence[Exception], result: str = "done") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def is_transient(error: Exception) -> bool:
    """The tests' transient predicate."""
    return isinstance(error, Transient)


def test_waits_double_up_to_the_maximum() -> None:
    clock = Clock()
    action = Script([Transient(n) for n in range(7)])
    result = retry(
        action,
        transient=is_transient,
        initial=0.05,
        maximum=1.0,
        sleep=clock.sleep,
        clock=clock,
    )
    assert result == "done"
    assert action.calls == 8
    assert clock.waits == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_jitter_lengthens_each_wait_within_its_bounds() -> None:
    clock = Clock()
    draws = random.Random(1234)
    expected = random.Random(1234)
    retry(
        Script([Transient(n) for n in range(6)]),
        transient=is_transient,
        initial=0.005,
        maximum=0.02,
        jitter=1.0,
        sleep=clock.sleep,
        clock=clock,
        rand=draws.random,
    )
    bases = [0.005, 0.01, 0.02, 0.02, 0.02, 0.02]
    assert clock.waits == pytest.approx([base * (1 + expected.random()) for base in bases])
    for wait, base in zip(clock.waits, bases, strict=True):
        assert base <= wait < 2 * base
    assert len(set(clock.waits)) == len(bases), "each wait draws its own jitter"


def test_a_permanent_error_is_raised_at_once_without_waiting() -> None:
    clock = Clock()
    failures: list[int] = []
    action = Script([Permanent("no"), Transient("never reached")])
    with pytest.raises(Permanent):
        retry(
            action,
            transient=is_transient,
            initial=0.05,
            maximum=2.0,
            on_failure=lambda error, count: failures.append(count),
            sleep=clock.sleep,
            clock=clock,
        )
    assert action.calls == 1
    assert clock.waits == []
    assert failures == []


def test_a_permanent_error_after_transient_ones_ends_the_retries() -> None:
    clock = Clock()
    action = Script([Transient(1), Transient(2), Permanent("no")])
    with pytest.raises(Permanent):
        retry(action, transient=is_transient, initial=0.05, maximum=2.0, sleep=clock.sleep)
    assert action.calls == 3
    assert clock.waits == pytest.approx([0.05, 0.1])


def test_transient_errors_are_retried_until_success_and_reported_in_order() -> None:
    clock = Clock()
    errors = [Transient(n) for n in range(3)]
    seen: list[tuple[Exception, int]] = []
    result = retry(
        Script(errors, result="written"),
        transient=is_transient,
        initial=0.05,
        maximum=2.0,
        on_failure=lambda error, count: seen.append((error, count)),
        sleep=clock.sleep,
        clock=clock,
    )
    assert result == "written"
    assert seen == [(errors[0], 1), (errors[1], 2), (errors[2], 3)]
    assert len(clock.waits) == 3


def test_the_timeout_counts_from_the_first_failure_and_raises_the_last_error() -> None:
    clock = Clock()
    errors = [Transient(n) for n in range(100)]
    action = Script(errors)
    with pytest.raises(Transient) as raised:
        retry(
            action,
            transient=is_transient,
            initial=1.0,
            maximum=4.0,
            timeout=10.0,
            sleep=clock.sleep,
            clock=clock,
        )
    # failures at 100, 101, 103, 107, then a wait cut to the deadline (110), a last failure
    assert clock.waits == pytest.approx([1.0, 2.0, 4.0, 3.0])
    assert action.calls == 5
    assert raised.value is errors[4]
    assert clock.now == pytest.approx(110.0)


def test_a_retry_after_hint_lengthens_the_wait() -> None:
    clock = Clock()

    class Busy(Transient):
        def __init__(self, retry_after: float) -> None:
            super().__init__("busy")
            self.retry_after = retry_after

    def hinted(error: Exception) -> float:
        return error.retry_after if isinstance(error, Busy) else 0.0

    retry(
        Script([Busy(0.5), Transient("dropped"), Busy(0.01)]),
        transient=is_transient,
        initial=0.05,
        maximum=2.0,
        min_wait=hinted,
        sleep=clock.sleep,
        clock=clock,
    )
    assert clock.waits == pytest.approx([0.5, 0.1, 0.2]), "the hint is a minimum, not a delay"


def test_a_retry_after_hint_never_waits_past_the_timeout() -> None:
    clock = Clock()
    with pytest.raises(Transient):
        retry(
            Script([Transient(n) for n in range(5)]),
            transient=is_transient,
            initial=0.05,
            maximum=2.0,
            timeout=3.0,
            min_wait=lambda error: 30.0,
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.waits == pytest.approx([3.0])


def test_the_stop_condition_ends_the_retries_with_the_last_error() -> None:
    clock = Clock()
    errors = [Transient(n) for n in range(100)]
    seen: list[int] = []
    with pytest.raises(Transient) as raised:
        retry(
            Script(errors),
            transient=is_transient,
            initial=0.05,
            maximum=2.0,
            stop=lambda: len(clock.waits) == 3,
            on_failure=lambda error, count: seen.append(count),
            sleep=clock.sleep,
            clock=clock,
        )
    assert raised.value is errors[3]
    assert seen == [1, 2, 3, 4], "the failure that meets the stop is reported too"
    assert len(clock.waits) == 3


def test_without_timeout_or_stop_it_retries_past_any_deadline() -> None:
    clock = Clock()
    action = Script([Transient(n) for n in range(50)])
    result = retry(action, transient=is_transient, initial=1.0, maximum=60.0, sleep=clock.sleep)
    assert result == "done"
    assert action.calls == 51
    assert clock.waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0] + [60.0] * 44
