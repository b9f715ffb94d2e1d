"""The compare view loads metric by metric in headless chromium (issue 18).

Its first chart is drawn before the last metric's series were requested, a folded ``system/``
section is not requested until unfolded, and what is drawn is what the API serves.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from uiprocess import running_ui

from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.structure import Project, Status, Trial

CHART_TIMEOUT = 15_000  # ms
RUNS, POINTS = 3, 40
METRICS = [f"m{m}" for m in range(8)]
SYSTEM = "system/cpu"
DONE = {"name": Status.Completed.name, "value": Status.Completed.value}

#: the time (Date.now(), the clock of Playwright's request timings) and metric of the first
#: chart plotly drew
FIRST_CHART = """
new MutationObserver((changes, observer) => {
  const chart = document.querySelector('.chart[data-metric].js-plotly-plot');
  if (!chart) return;
  window.firstChart = { time: Date.now(), metric: chart.dataset.metric };
  observer.disconnect();
}).observe(document, { childList: true, subtree: true, attributes: true });
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """``track ui`` over a sqlite store of three runs x eight metrics and system/cpu."""
    path = tmp_path_factory.mktemp("progressive") / "runs.db"
    store = get_protocol(f"sqlite:///{path}")
    store.new_project(Project(name="progressive"))
    uids = []
    for r in range(RUNS):
        trial = Trial(name=f"run{r}", parameters={"seed": r})
        trial.project_id = "progressive"
        store.new_trial(trial)
        series = {
            name: [(s, (m + 1) * 10.0 + r + s / POINTS, 1.7e9 + s) for s in range(POINTS)]
            for m, name in enumerate([*METRICS, SYSTEM])
        }
        batch = TrialBatch(series=series, metadata={"start_time": 1.7e9}, status=DONE)
        store.log_trial_batch(trial, batch)
        store.commit()
        uids.append(trial.uid)
    store.close()
    with running_ui(f"sqlite:///{path}") as url:
        yield url, uids


def lines(page: Any, metric: str) -> list[dict[str, Any]]:
    """The line traces drawn in the chart of ``metric``: legend group (run uid), x and y."""
    return page.evaluate(
        """(metric) => (document.querySelector(`.chart[data-metric="${metric}"]`).data || [])
             .filter((t) => t.meta === "line")
             .map((t) => ({ key: t.legendgroup, x: Array.from(t.x), y: Array.from(t.y) }))""",
        metric,
    )


def wait_drawn(page: Any, metric: str) -> None:
    """Wait until the chart of ``metric`` holds a line per run."""
    page.wait_for_function(
        """([metric, runs]) => {
             const node = document.querySelector(`.chart[data-metric="${metric}"]`);
             return node && node.data && node.data.length === runs;
           }""",
        arg=[metric, RUNS],
        timeout=CHART_TIMEOUT,
    )


def test_compare_view_draws_metric_by_metric(
    runs: tuple[str, list[str]], page: Any, artifacts: Path
) -> None:
    """Charts come in display order per metric; system/ waits for its unfolding; data match."""
    url, uids = runs
    requested: list[tuple[dict[str, list[str]], float]] = []

    def finished(request: Any) -> None:
        parts = urllib.parse.urlsplit(request.url)
        if parts.path.endswith("/metrics"):
            requested.append((urllib.parse.parse_qs(parts.query), request.timing["startTime"]))

    page.on("requestfinished", finished)
    page.add_init_script(FIRST_CHART)
    page.goto(f"{url}/#/compare?uids={','.join(uids)}")
    for metric in METRICS:
        wait_drawn(page, metric)

    asked = [query.get("names", ["<all>"])[0] for query, _ in requested]
    assert len(asked) == RUNS * len(METRICS)
    assert list(dict.fromkeys(asked)) == METRICS  # display order, one metric per request
    assert SYSTEM not in asked and not page.is_visible(".chart[data-metric='system/cpu']")
    assert {query["points"][0] for query, _ in requested} == {"2000"}
    first = page.evaluate("window.firstChart")
    assert first["metric"] == METRICS[0]
    last_metric_sent = min(start for query, start in requested if query["names"] == [METRICS[-1]])
    assert first["time"] < last_metric_sent

    page.click(".metric-group[data-prefix='system'] > summary")
    wait_drawn(page, SYSTEM)
    assert [query["names"][0] for query, _ in requested[len(asked) :]] == [SYSTEM] * RUNS

    for metric in (METRICS[0], SYSTEM):
        drawn = lines(page, metric)
        assert [line["key"] for line in drawn] == uids
        for line, uid in zip(drawn, uids, strict=True):
            query = urllib.parse.urlencode({"names": metric, "points": 2000})
            with urllib.request.urlopen(f"{url}/api/trials/{uid}/metrics?{query}") as answer:
                served = json.load(answer)[metric]
            assert line["x"] == served["step"] and line["y"] == served["value"]
    page.screenshot(path=str(artifacts / "compare-progressive.png"), full_page=True)
