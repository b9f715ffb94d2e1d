"""A running trial in headless chromium: its charts gain points without reload, then it stops."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

from uiprocess import get_json, live_writer, running_ui

CHART_TIMEOUT = 15_000  # ms
LOSS = ".chart[data-metric='loss']"

#: a trial logging loss = 1 / (step + 1) every 50 ms until the file named by argv[1] exists
WRITER = """
import os, sys, time
from track import TrackClient
client = TrackClient(flush_interval=0.05, system_metrics_interval=0, heartbeat_interval=1)
client.set_project(name="live")
trial = client.new_trial(name="running", parameters={"lr": 0.1}, force=True)
with trial:
    step, end = 0, time.monotonic() + 60
    while not os.path.exists(sys.argv[1]) and time.monotonic() < end:
        trial.log_metrics(step=step, loss=1.0 / (step + 1))
        step += 1
        time.sleep(0.05)
client.close()
"""


def wait_for_running_trial(url: str, writer: subprocess.Popen[bytes]) -> str:
    """The uid of the writer's trial, once it runs and has points (fails if the writer exits)."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        assert writer.poll() is None, writer.stderr.read().decode() if writer.stderr else ""
        rows = get_json(url + "/api/trials?limit=0")["rows"]
        if rows and rows[0]["status"] == "Running" and rows[0]["metrics"].get("loss") is not None:
            return str(rows[0]["uid"])
        time.sleep(0.1)
    raise TimeoutError("the writer's trial did not start")


def test_a_running_trial_gains_points_without_reload(
    tmp_path: Path, page: Any, artifacts: Path
) -> None:
    """Polling with ``since`` appends the new points to the chart; at the end polling stops."""
    uri = f"file://{tmp_path / 'live.json'}"
    stop = tmp_path / "stop"
    with live_writer(WRITER, tmp_path / "live.json", stop) as writer, running_ui(uri) as url:
        uid = wait_for_running_trial(url, writer)
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{url}/#/trial/{uid}")
        page.wait_for_selector(LOSS + " .main-svg", timeout=CHART_TIMEOUT)
        page.evaluate("window.notReloaded = true")
        first = page.evaluate(f'document.querySelector("{LOSS}").data[0].x.length')
        page.wait_for_function(
            f'document.querySelector("{LOSS}").data[0].x.length > {first + 10}',
            timeout=CHART_TIMEOUT,
        )
        assert page.evaluate("window.notReloaded") is True
        assert re.search(r"heartbeat \d+ s ago", page.inner_text("#live-status"))
        assert any("since=" in r for r in requests), "polls ask for new points only"
        page.screenshot(path=str(artifacts / "live-trial.png"), full_page=True)

        stop.touch()
        assert writer.wait(timeout=30) == 0
        page.wait_for_selector("h1 .badge.Completed", timeout=CHART_TIMEOUT)
        assert page.evaluate("window.notReloaded") is True
        assert not page.query_selector("#live-status")
        drawn = page.evaluate(f'Array.from(document.querySelector("{LOSS}").data[0].x)')
        stored = get_json(f"{url}/api/trials/{uid}/metrics")["loss"]["step"]
        assert drawn == stored, "appended points are exactly the stored ones, in order"
        polls = len(requests)
        page.wait_for_timeout(2500)
        assert len(requests) == polls, "a finished trial is no longer polled"
