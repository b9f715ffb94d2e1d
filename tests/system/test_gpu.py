"""GPU sampling through NVML (track/system/gpu.py).

The only tests allowed to skip under ``CI=true``: CI machines have no GPU, so the GPU test skips
there, and the no-GPU tests skip on a machine that has one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from track.system.gpu import nvml_gpus

#: skip reasons; the GPU tests are the only ones allowed to skip in CI (CI has no GPU)
GPU_ONLY = "needs nvidia-ml-py and an NVIDIA GPU (the one test allowed to skip under CI=true)"
NO_GPU_ONLY = "this machine has an NVIDIA GPU (a no-GPU test, allowed to skip under CI=true)"

TRIAL_SCRIPT = """
import json, logging, sys, threading, time
{setup}
from track import TrackClient
client = TrackClient("ephemeral:", system_metrics_interval=0.1)
trial = client.new_trial(name="gpu")


def sampled():  # a sample is stored, or the sampler quit for lack of anything to read
    trial.flush()
    alive = any(t.name == "track-system" for t in threading.enumerate())
    return client.protocol.get_trial_metrics(trial.trial) or not alive


with trial:
    end = time.monotonic() + 10
    while not sampled() and time.monotonic() < end:
        time.sleep(0.05)
stored = client.protocol.get_trial(trial.trial)[0]
print(json.dumps({{"metrics": sorted(stored.metrics), "environment": stored.metadata["environment"]}}))
"""


def run_trial(tmp_path: Path, setup: str = "") -> tuple[dict, str]:
    """Run a sampled trial in a fresh interpreter; its stored metrics/environment and stderr."""
    script = tmp_path / "trial.py"
    script.write_text(textwrap.dedent(TRIAL_SCRIPT.format(setup=setup)))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout), done.stderr


@pytest.mark.skipif(nvml_gpus() is not None, reason=NO_GPU_ONLY)
def test_no_gpu_records_no_gpu_metric_and_writes_nothing_on_stderr(tmp_path: Path) -> None:
    """Without NVML or a GPU, a trial has host metrics only, no GPU entry and a silent stderr."""
    stored, stderr = run_trial(tmp_path)
    assert stderr == ""
    assert "system/cpu_percent" in stored["metrics"]
    assert not [name for name in stored["metrics"] if name.startswith("system/gpu")]
    assert stored["environment"]["gpu"] is None


@pytest.mark.skipif(nvml_gpus() is not None, reason=NO_GPU_ONLY)
def test_no_gpu_says_so_in_one_debug_line(tmp_path: Path) -> None:
    """With debug logging on, the skipped GPU sampling is explained in exactly one line."""
    _, stderr = run_trial(tmp_path, setup="logging.basicConfig(level=logging.DEBUG)")
    assert len([line for line in stderr.splitlines() if "no GPU metrics" in line]) == 1


def test_missing_psutil_skips_host_metrics_quietly(tmp_path: Path) -> None:
    """Without psutil (unimportable), no CPU/memory metric, no stderr; the environment is whole."""
    stored, stderr = run_trial(tmp_path, setup="sys.modules['psutil'] = None")
    assert stderr == ""
    assert not [name for name in stored["metrics"] if name.startswith("system/")]
    assert stored["environment"]["memory_total_mb"] > 0
    assert "track" in stored["environment"]["packages"]


@pytest.mark.skipif(nvml_gpus() is None, reason=GPU_ONLY)
def test_gpu_metrics_and_names_are_recorded(tmp_path: Path) -> None:
    """On a GPU machine, every GPU has its metrics and its name in the environment."""
    stored, stderr = run_trial(tmp_path)
    assert stderr == ""
    gpus = nvml_gpus()
    assert gpus is not None
    for index in range(len(gpus.handles)):
        assert f"system/gpu{index}/memory_used_mb" in stored["metrics"]
    assert len(stored["environment"]["gpu"]["devices"]) == len(gpus.handles)
    assert stored["environment"]["gpu"]["driver_version"]
