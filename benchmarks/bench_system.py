"""What system sampling costs: CPU per sample, log-call latency with it on, environment capture.

Run: python benchmarks/bench_system.py   (prints tables; nothing is asserted)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

from track import TrackClient
from track.system import SystemSampler, capture_environment

READS = 2000
LOG_CALLS = 200_000
REPEATS = 9
IDLE_SECONDS = 5.0


def per_sample_cost() -> list[tuple[str, float, float]]:
    """CPU and wall µs of one sample: reading the probes, then reading and logging into a trial."""
    client = TrackClient("ephemeral:", system_metrics_interval=0)
    trial = client.new_trial(name="bench-read")
    trial.start()
    sampler = SystemSampler(trial.log_metrics, 1.0, tempfile.gettempdir())
    sampler.prepare()
    rows = []
    for label, log in (("read probes", False), ("read probes + log_metrics", True)):
        cpu, wall = time.thread_time(), time.perf_counter()
        for _ in range(READS):
            values = sampler.read()
            if log:
                trial.log_metrics(step=time.time(), **values)
        rows.append(
            (
                label,
                (time.thread_time() - cpu) / READS * 1e6,
                (time.perf_counter() - wall) / READS * 1e6,
            )
        )
    trial.finish()
    client.close()
    return rows


def running_sampler_cost(interval: float) -> tuple[int, float]:
    """(samples, process CPU µs per sample) of a running sampler, idle caller, flushes included."""

    def cpu_while_idle(sampling: float) -> tuple[float, int]:
        client = TrackClient("ephemeral:", system_metrics_interval=sampling)
        trial = client.new_trial(name="bench-idle")
        trial.start()
        begin = time.process_time()
        time.sleep(IDLE_SECONDS)  # the benchmark measures an idle caller on purpose
        spent = time.process_time() - begin
        trial.finish()
        metrics = client.protocol.get_trial_metrics(trial.trial, ["system/cpu_percent"])
        client.close()
        return spent, len(metrics.get("system/cpu_percent", []))

    baseline, _ = cpu_while_idle(0)
    spent, samples = cpu_while_idle(interval)
    return samples, (spent - baseline) / max(samples, 1) * 1e6


def log_call_ns(interval: float) -> float:
    """ns per ``log_metrics(step=i, loss=x)`` call in a trial sampled every ``interval`` s."""
    client = TrackClient("ephemeral:", system_metrics_interval=interval, max_points=10_000_000)
    trial = client.new_trial(name=f"bench-log-{interval}")
    with trial:
        time.sleep(min(interval, 0.2))  # let the sampler start sampling before timing
        begin = time.perf_counter_ns()
        for i in range(LOG_CALLS):
            trial.log_metrics(step=i, loss=0.5)
        spent = (time.perf_counter_ns() - begin) / LOG_CALLS
    client.close()
    return spent


def log_call_table(intervals: dict[str, float]) -> dict[str, list[float]]:
    """ns/call runs per configuration, interleaved round by round so machine noise hits all."""
    runs: dict[str, list[float]] = {label: [] for label in intervals}
    for _ in range(REPEATS):
        for label, interval in intervals.items():
            runs[label].append(log_call_ns(interval))
    return runs


def environment_ms() -> tuple[float, float]:
    """(first capture in a fresh interpreter, a later capture) in ms."""
    code = (
        "import time; from track.system import capture_environment as c; "
        "t = time.perf_counter(); c(); print((time.perf_counter() - t) * 1e3)"
    )
    cold = float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    )
    capture_environment()
    begin = time.perf_counter()
    for _ in range(100):
        capture_environment()
    return cold, (time.perf_counter() - begin) / 100 * 1e3


def main() -> None:
    """Print the tables."""
    print(f"One sample, {READS} in a row (thread CPU time and wall time):")
    print(f"  {'what':<28}{'CPU µs':>10}{'wall µs':>10}")
    for label, cpu, wall in per_sample_cost():
        print(f"  {label:<28}{cpu:>10.0f}{wall:>10.0f}")

    samples, cost = running_sampler_cost(0.05)
    print(f"\nRunning sampler, interval 0.05 s, {IDLE_SECONDS:.0f} s, idle caller (process CPU):")
    print(f"  {samples} samples, {cost:.0f} µs CPU per sample (above an unsampled trial)")

    print(f"\nlog_metrics(step=i, loss=x), {REPEATS} interleaved runs of {LOG_CALLS} calls:")
    print(f"  {'sampling':<28}{'median ns':>10}{'min ns':>10}")
    intervals = {"off": 0.0, "every 10 s (default)": 10.0, "every 0.1 s": 0.1, "every 0.02 s": 0.02}
    for label, runs in log_call_table(intervals).items():
        print(f"  {label:<28}{statistics.median(runs):>10.0f}{min(runs):>10.0f}")

    cold, warm = environment_ms()
    print("\nEnvironment capture (trial start):")
    print(f"  first in a process {cold:.1f} ms, later {warm:.3f} ms")


if __name__ == "__main__":
    main()
