"""The compare view of a running trial in headless chromium: its lines grow without reload.

A subprocess logs a finished trial, then keeps logging to a second one; the compare view of
the two appends the running trial's new points (also to a grouped mean), and stops polling
once the trial ends.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from uiprocess import get_json, live_writer, running_ui

CHART_TIMEOUT = 15_000  # ms
LOSS = ".chart[data-metric='loss']"
DONE_STEPS = 20
#: the number of points of the loss line of the trial given as argument
RUN_LENGTH = (
    f"(uid) => document.querySelector({LOSS!r}).data.find((t) => t.legendgroup === uid).x.length"
)
#: the number of points of the loss chart's (grouped) mean line
MEAN_LENGTH = f'() => document.querySelector({LOSS!r}).data.find((t) => t.meta === "line").x.length'

#: a finished trial of DONE_STEPS points, then a trial logging loss = 1 / (step + 1) every
#: 50 ms until the file named by argv[1] exists; both with lr = 0.1
WRITER = f"""
import os, sys, time
from track import TrackClient
client = TrackClient(flush_interval=0.05, system_metrics_interval=0, heartbeat_interval=1)
client.set_project(name="live")
done = client.new_trial(name="done", parameters={{"lr": 0.1, "seed": 1}}, force=True)
with done:
    for step in range({DONE_STEPS}):
        done.log_metrics(step=step, loss=2.0 / (step + 1))
running = client.new_trial(name="running", parameters={{"lr": 0.1, "seed": 2}}, force=True)
with running:
    step, end = 0, time.monotonic() + 60
    while not os.path.exists(sys.argv[1]) and time.monotonic() < end:
        running.log_metrics(step=step, loss=1.0 / (step + 1))
        step += 1
        time.sleep(0.05)
client.close()
"""


def wait_for_trials(url: str, writer: subprocess.Popen[bytes]) -> tuple[str, str]:
    """The uids of the finished and the running trial, once the latter has points."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        assert writer.poll() is None, writer.stderr.read().decode() if writer.stderr else ""
        rows = {row["name"]: row for row in get_json(url + "/api/trials?limit=0")["rows"]}
        running = rows.get("running")
        if (
            running
            and running["status"] == "Running"
            and running["metrics"].get("loss") is not None
        ):
            return str(rows["done"]["uid"]), str(running["uid"])
        time.sleep(0.1)
    raise TimeoutError("the writer's running trial did not start")


def line_steps(page: Any, uid: str) -> list[int]:
    """The x values (steps) of the line the loss chart draws for trial ``uid``."""
    steps: list[int] = page.evaluate(
        """([selector, uid]) => Array.from(document.querySelector(selector).data
             .find((t) => t.meta === "line" && t.legendgroup === uid).x)""",
        [LOSS, uid],
    )
    return steps


def wait_for_growth(page: Any, script: str, arg: Any) -> None:
    """Wait until the number ``script`` computes from ``arg`` grows by more than 10."""
    first = page.evaluate(script, arg)
    page.wait_for_function(
        f"([arg, first]) => ({script})(arg) > first + 10", arg=[arg, first], timeout=CHART_TIMEOUT
    )


def test_compare_view_of_a_running_trial_gains_points_without_reload(
    tmp_path: Path, page: Any, artifacts: Path
) -> None:
    """Polling with ``since`` extends the running trial's line and a grouped mean; then it stops."""
    uri = f"file://{tmp_path / 'live.json'}"
    stop = tmp_path / "stop"
    with live_writer(WRITER, tmp_path / "live.json", stop) as writer, running_ui(uri) as url:
        done, running = wait_for_trials(url, writer)
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{url}/#/compare?uids={done},{running}")
        page.wait_for_function(
            f'(document.querySelector("{LOSS}") || {{}}).data?.length === 2',
            timeout=CHART_TIMEOUT,
        )
        page.evaluate("window.notReloaded = true")
        wait_for_growth(page, RUN_LENGTH, running)
        assert line_steps(page, done) == list(range(DONE_STEPS)), "a finished run stays"
        assert any("since=" in r for r in requests), "polls ask for new points only"
        assert "heartbeat" in page.inner_text("#compare-table [data-status='1']")

        page.check("#grouping input[data-param='lr']")
        page.wait_for_function(f'document.querySelector("{LOSS}").data.length === 3')
        wait_for_growth(page, MEAN_LENGTH, None)
        names = f'document.querySelector("{LOSS}").data.map((t) => t.name || null)'
        assert page.evaluate(names) == [None, None, "lr=0.1 (2)"], "one mean over a band"
        page.screenshot(path=str(artifacts / "compare-live.png"), full_page=True)
        page.uncheck("#grouping input[data-param='lr']")
        page.wait_for_function(f'document.querySelector("{LOSS}").data.length === 2')

        stop.touch()
        assert writer.wait(timeout=30) == 0
        page.wait_for_selector(
            "#compare-table [data-status='1'] .badge.Completed", timeout=CHART_TIMEOUT
        )
        assert page.evaluate("window.notReloaded") is True
        stored = get_json(f"{url}/api/trials/{running}/metrics")["loss"]["step"]
        assert line_steps(page, running) == stored, "the drawn steps are the stored ones"
        assert line_steps(page, done) == list(range(DONE_STEPS))
        polls = len(requests)
        page.wait_for_timeout(2500)
        assert len(requests) == polls, "a finished trial is no longer polled"
