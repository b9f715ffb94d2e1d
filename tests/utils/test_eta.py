"""EstimatedTime on flat and nested loops."""

from types import SimpleNamespace

import pytest

import track.utils.eta as eta_module
from track.utils.eta import EstimatedTime, get_time, to_list
from track.utils.stat import StatStream


def timer_with(*values, drop=0):
    """Build a StatStream already holding ``values``."""
    timer = StatStream(drop_first_obs=drop)
    for v in values:
        timer.update(v)
    return timer


def test_to_list():
    """Scalars are wrapped, tuples and lists become lists."""
    assert to_list(3) == [3]
    assert to_list((1, 2)) == [1, 2]
    assert to_list([4]) == [4]


def test_get_time_prefers_average_then_last_value():
    """get_time uses the mean, falls back to the last (dropped) value, then to zero."""
    assert get_time(timer_with(1.0, 3.0)) == 2.0
    assert get_time(timer_with(5.0, drop=10)) == 5.0
    assert get_time(StatStream()) == 0.0


def test_count_and_total():
    """count multiplies the levels (with offset); total counts every iteration."""
    assert EstimatedTime.count((10, 100)) == 1000
    assert EstimatedTime.count((1, 2), offset=1) == 6
    assert EstimatedTime.count(7) == 7

    eta = EstimatedTime(StatStream(), (10, 100))
    assert eta.total == 1000
    eta.set_totals(50)
    assert eta.total == 50


def test_flat_loop_estimate():
    """Remaining time is average step time times remaining steps, in the requested unit."""
    eta = EstimatedTime(timer_with(2.0, 2.0), 100)
    assert eta.estimated_time(9, unit=1) == pytest.approx(2.0 * 90)
    assert eta.estimated_time(9) == pytest.approx(2.0 * 90 / 60)
    assert eta.estimated_time(99, unit=1) == 0.0


def test_nested_loop_estimate():
    """For (epoch, batch) steps the remaining count follows the nested loop order."""
    eta = EstimatedTime(timer_with(0.5), (10, 100))
    # after epoch 1 batch 19 (0-based): 1 * 100 + 20 iterations are done
    assert eta.estimated_time((1, 19), unit=1) == pytest.approx(0.5 * (1000 - 120))


def test_step_shape_must_match_totals():
    """A step with a different nesting than the totals is an error."""
    eta = EstimatedTime(timer_with(1.0), (10, 100))
    with pytest.raises(ValueError):
        eta.estimated_time(3)


def test_wall_clock_fallback_when_timer_is_empty(monkeypatch):
    """With an empty timer the step time is the time elapsed since creation over the steps
    done since ``start`` (a scripted clock: 3 s pass)."""
    now = [1000.0]
    monkeypatch.setattr(eta_module, "time", SimpleNamespace(time=lambda: now[0]))
    eta = EstimatedTime(StatStream(), 10)
    resumed = EstimatedTime(StatStream(), 10, start=4)
    now[0] += 3.0
    assert eta.elapsed(unit=1) == 3.0 and eta.elapsed() == 3.0 / 60
    assert eta.estimated_time(0, unit=1) == 9 * 3.0  # 1 step in 3 s, 9 left
    assert resumed.estimated_time(6, unit=1) == 3 * 1.0  # 3 steps in 3 s, 3 left


def test_show_eta_prints_and_returns_line(capsys):
    """show_eta prints one progress line with every level, the ETA and the message."""
    eta = EstimatedTime(timer_with(0.1), (10, 1000), name="train")
    line = eta.show_eta((1, 20), msg="loss: 0.5")
    assert capsys.readouterr().out == line + "\n"
    assert line.startswith("train [  1/ 10][ 20/1000] Eta: ")
    assert line.endswith(" min loss: 0.5")
    expected = 0.1 * (10_000 - 1021) / 60
    assert f"Eta: {expected:.2f} min" in line

    quiet = eta.show_eta((1, 20), show=False)
    assert capsys.readouterr().out == ""
    assert quiet == "train [  1/ 10][ 20/1000] " + f"Eta: {expected:.2f} min"
