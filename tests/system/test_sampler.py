"""System metrics sampled while a trial runs (track/system/sampler.py, host.py)."""

from __future__ import annotations

import itertools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from track import TrackClient, TrialLogger
from track.system.sampler import SystemSampler, start_sampler

INTERVAL = 0.5
DEADLINE = 15.0


def series(client: TrackClient, trial: TrialLogger, name: str) -> list[tuple[float, float]]:
    """The stored (step, value) points of one metric, after a flush."""
    trial.flush()
    points = client.protocol.get_trial_metrics(trial.trial, names=[name]).get(name, [])
    return [(p[0], p[1]) for p in points]


def samples_within(points: list[tuple[float, float]], start: float, end: float) -> list[float]:
    """Values whose whole window (previous sample time, own time] lies in [start, end]."""
    return [v for (t0, _), (t1, v) in itertools.pairwise(points) if t0 >= start and t1 <= end]


def run_until(
    enough: Callable[[], bool], work: Callable[[], None] = lambda: time.sleep(0.05)
) -> None:
    """Call ``work`` until ``enough()`` holds, failing after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not enough():
        assert time.monotonic() < deadline, "the sampler did not record in time"
        work()


def busy(seconds: float = 0.1) -> None:
    """Spin the CPU on this thread for ``seconds``."""
    end = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < end:
        count += 1


def test_cpu_and_rss_samples_reflect_load() -> None:
    """Process CPU % matches a busy loop's real CPU use, far above idle; RSS grows by a buffer."""
    client = TrackClient("ephemeral:", system_metrics_interval=INTERVAL)
    trial = client.new_trial(name="load")
    cpu = "system/process_cpu_percent"
    rss = "system/process_rss_mb"
    with trial:
        idle_start = time.time()
        run_until(
            lambda: len(samples_within(series(client, trial, cpu), idle_start, time.time())) >= 2
        )
        busy_start, busy_cpu = time.time(), time.process_time()
        run_until(
            lambda: len(samples_within(series(client, trial, cpu), busy_start, time.time())) >= 3,
            busy,
        )
        busy_end = time.time()
        # What the process really used, measured independently of psutil (a loaded machine may
        # give the loop well under one core).
        real_percent = 100 * (time.process_time() - busy_cpu) / (busy_end - busy_start)
        rss_before = max(v for _, v in series(client, trial, rss))
        buffer = b"\x01" * (256 * 1024 * 1024)  # written, so its pages are resident
        allocated = time.time()
        run_until(lambda: any(t > allocated for t, _ in series(client, trial, rss)))
        rss_after = max(v for t, v in series(client, trial, rss) if t > allocated)
        del buffer
    points = series(client, trial, cpu)
    idle = statistics.median(samples_within(points, idle_start, busy_start))
    loaded = samples_within(points, busy_start, busy_end)
    assert statistics.mean(loaded) == pytest.approx(real_percent, rel=0.3, abs=5), loaded
    assert statistics.median(loaded) > idle + 0.5 * real_percent, (idle, loaded, real_percent)
    assert rss_after - rss_before >= 200, (rss_before, rss_after)


def test_every_documented_host_metric_is_recorded() -> None:
    """A sampled trial holds every psutil metric the docs list, with plausible values."""
    client = TrackClient("ephemeral:", system_metrics_interval=0.2)
    trial = client.new_trial(name="fields")
    with trial:
        run_until(lambda: len(series(client, trial, "system/cpu_percent")) >= 2)
    metrics = client.protocol.get_trial_metrics(trial.trial)
    last = {name: points[-1][1] for name, points in metrics.items()}
    assert {
        "system/cpu_percent",
        "system/process_cpu_percent",
        "system/process_rss_mb",
        "system/memory_used_mb",
        "system/memory_available_mb",
        "system/disk_used_mb",
        "system/disk_percent",
        "system/net_sent_bytes",
        "system/net_recv_bytes",
        "system/open_files",
    } <= set(last)
    assert 0 <= last["system/cpu_percent"] <= 100
    assert last["system/process_rss_mb"] > 10
    assert last["system/open_files"] >= 3
    assert all(points[-1][0] == pytest.approx(time.time(), abs=60) for points in metrics.values())


def test_disabled_sampling_records_no_system_metric() -> None:
    """system_metrics_interval=0 records no system/* metric, but the environment still."""
    client = TrackClient("ephemeral:", system_metrics_interval=0)
    trial = client.new_trial(name="off")
    with trial:
        trial.log_metrics(step=1, loss=0.5)
    stored = client.protocol.get_trial(trial.trial)[0]
    assert list(stored.metrics) == ["loss"]
    assert "environment" in stored.metadata


def test_environment_variable_disables_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACK_SYSTEM_METRICS_INTERVAL=0 turns sampling off without a code change."""
    monkeypatch.setenv("TRACK_SYSTEM_METRICS_INTERVAL", "0")
    client = TrackClient("ephemeral:")
    assert client.pipeline.options.system_metrics_interval == 0
    trial = client.new_trial(name="env-off")
    with trial:
        pass
    assert not client.protocol.get_trial(trial.trial)[0].metrics


def test_short_trial_gets_a_last_sample_without_waiting_the_interval() -> None:
    """A trial far shorter than its hour-long interval gets its one sample when it finishes."""
    client = TrackClient("ephemeral:", system_metrics_interval=3600)
    trial = client.new_trial(name="short")
    trial.start()
    busy(0.2)
    trial.finish()  # stop wakes the sampler; if it did not, it would sleep the hour unsampled
    assert len(series(client, trial, "system/process_rss_mb")) == 1


def test_failing_reader_is_dropped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Disk usage of a missing folder fails: warned once, and every other metric goes on."""
    logged: list[dict[str, float]] = []
    sampler = SystemSampler(lambda step, **v: logged.append(v), 0.05, "/no/such/folder")
    sampler.start()
    run_until(lambda: len(logged) >= 3)
    sampler.stop()
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "disk" in warnings[0].getMessage()
    assert all("system/cpu_percent" in v and "system/disk_used_mb" not in v for v in logged)


def test_negative_interval_is_rejected() -> None:
    """A negative interval is a configuration error, raised when the client is built."""
    with pytest.raises(ValueError, match="system_metrics_interval"):
        TrackClient("ephemeral:", system_metrics_interval=-1)


def test_start_sampler_takes_a_log_callable_its_interval_and_a_folder(tmp_path: Path) -> None:
    """No trial logger needed: the sampler calls ``log`` and reports the given folder's disk."""
    logged: list[dict[str, float]] = []
    sampler = start_sampler(lambda step, **values: logged.append(values), 0.05, str(tmp_path))
    assert sampler is not None and sampler.disk_path == str(tmp_path)
    run_until(lambda: len(logged) >= 2)
    sampler.stop()
    assert all("system/disk_used_mb" in values for values in logged)
    assert start_sampler(logged.append, 0, str(tmp_path)) is None


def test_start_sampler_without_a_folder_reports_the_working_directory() -> None:
    """A store with no folder of its own (``Protocol.folder`` None): the working directory."""
    sampler = start_sampler(lambda step, **values: None, 3600, None)
    assert sampler is not None
    sampler.stop()
    assert sampler.disk_path == os.getcwd()
