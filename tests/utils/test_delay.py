"""DelayedCall and Future."""

import threading
import time

import pytest

from track.utils.delay import (
    DelayedCall,
    Future,
    FutureIsNotReady,
    delay_call,
    is_delayed_call,
)


class Counter:
    """Callable counting its invocations."""

    def __init__(self):
        self.calls = 0

    def __call__(self, a, b=0):
        self.calls += 1
        return a + b


def test_evaluates_once_and_caches():
    """The function runs on first use only; later calls reuse the result."""
    fun = Counter()
    call = DelayedCall(fun, {"a": 1, "b": 2})
    assert fun.calls == 0
    assert call() == 3
    assert call.get() == 3
    assert fun.calls == 1


def test_add_arguments_before_evaluation():
    """Arguments can be completed until the call is evaluated, not after."""
    call = delay_call(Counter(), a=1)
    call.add_arguments(b=10)
    assert call.get() == 11
    with pytest.raises(RuntimeError):
        call.add_arguments(b=0)
    assert is_delayed_call(call)
    assert not is_delayed_call(lambda: 1)


def test_future_not_ready_until_evaluated():
    """A future never triggers the call and raises until someone evaluated it."""
    fun = Counter()
    call = DelayedCall(fun, {"a": 5})
    future = call.get_future()
    assert isinstance(future, Future)
    assert not future.is_ready()
    with pytest.raises(FutureIsNotReady):
        future.get()
    with pytest.raises(FutureIsNotReady):
        future.wait(timeout=0.01)
    assert fun.calls == 0

    call()
    assert future.is_ready()
    assert future.get() == 5


def test_future_wait_for_other_thread():
    """wait() returns once another thread evaluates the call."""
    call = DelayedCall(Counter(), {"a": 7})
    future = Future(call)

    def later():
        time.sleep(0.05)
        call()

    worker = threading.Thread(target=later)
    worker.start()
    assert future.wait(timeout=10) == 7
    worker.join()


def test_concurrent_get_evaluates_once():
    """Many threads asking at once share a single evaluation."""
    fun = Counter()
    call = DelayedCall(fun, {"a": 1})
    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fun.calls == 1


def add(a, b):
    """Two-argument addition for the call-time argument tests."""
    return a + b


def test_call_merges_further_keyword_arguments():
    """delay_call(add, a=2)(b=2) == 4: keywords given at call time complete the stored ones."""
    assert delay_call(add, a=2)(b=2) == 4
    call = delay_call(add, a=2, b=1)
    assert call(b=5) == 7  # a call-time keyword replaces the stored one, as functools.partial
    assert call.kwargs == {"a": 2, "b": 5}
    assert call() == 7


def test_call_passes_positional_arguments():
    """Positional arguments given at call time reach the function before the stored keywords."""
    assert delay_call(add, b=3)(4) == 7


def test_call_with_arguments_after_evaluation_is_refused():
    """Once evaluated, a call bringing new arguments raises instead of ignoring them."""
    call = delay_call(add, a=1, b=1)
    assert call() == 2
    with pytest.raises(RuntimeError, match="already evaluated"):
        call(b=10)
    with pytest.raises(RuntimeError, match="already evaluated"):
        call(3)
    assert call() == 2
