"""The dashboard's charts in headless chromium: smoothing, shareable URLs, grouping, metrics panel.

What is drawn is read from each plotly div's ``data`` (its traces), never from pixels.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from uiprocess import running_ui

CHART_TIMEOUT = 15_000  # ms
LOSS = ".chart[data-metric='loss']"
STEPS = 30

#: a 3 x 3 sweep (learning rate x seed), each run logging loss = lr * (step + 1) + seed / 100
#: and, every 10 steps, val/loss and system/cpu: exact values the grouping test can check
GRID = f"""
from track import TrackClient
client = TrackClient(flush_interval=0.05, system_metrics_interval=0)
client.set_project(name="grid")
client.set_group(name="grid")
for lr in (0.1, 0.2, 0.3):
    for seed in (1, 2, 3):
        trial = client.new_trial(name=f"lr={{lr}} seed={{seed}}", parameters={{"lr": lr, "seed": seed}}, force=True)
        with trial:
            for step in range({STEPS}):
                trial.log_metrics(step=step, loss=lr * (step + 1) + seed / 100)
                if step % 10 == 0:
                    trial.log_metrics(step=step, **{{"val/loss": lr, "system/cpu": seed * 10.0}})
client.close()
"""


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """``track ui`` over the 3 x 3 sweep: its base URL and the nine trial uids."""
    uri = f"file://{tmp_path_factory.mktemp('grid') / 'grid.json'}"
    env = {**os.environ, "TRACK_URI": uri}
    subprocess.run(
        [sys.executable, "-c", GRID], env=env, check=True, capture_output=True, timeout=60
    )
    with running_ui(uri) as url:
        with urllib.request.urlopen(url + "/api/trials?limit=0") as answer:
            uids = [row["uid"] for row in json.load(answer)["rows"]]
        yield url, uids


def traces(page: Any, selector: str) -> list[dict[str, Any]]:
    """The traces plotly drew in the chart at ``selector``: meta, name, x, y, fill."""
    return page.evaluate(
        """(selector) => (document.querySelector(selector).data || []).map((t) => ({
              meta: t.meta, name: t.name, x: Array.from(t.x), y: Array.from(t.y), fill: t.fill || null}))""",
        selector,
    )


def debiased_ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing, written independently of the dashboard's JavaScript."""
    smoothed, last = [], 0.0
    for count, value in enumerate(values, start=1):
        last = weight * last + (1 - weight) * value
        smoothed.append(last / (1 - weight**count))
    return smoothed


def open_first_trial(page: Any, served: str) -> None:
    """Go to the trial page of the sweep's first trial (lr=0.01) and wait for its loss chart."""
    page.goto(served + "/#/trials?sort=name&order=asc")
    page.click("#trials tbody tr a")
    page.wait_for_selector(LOSS + " .main-svg", timeout=CHART_TIMEOUT)


def test_smoothing_draws_the_ema_over_the_faint_raw_curve(
    served: str, page: Any, artifacts: Path
) -> None:
    """The slider adds the debiased EMA of the curve and keeps the raw one faint; 0 turns it off."""
    open_first_trial(page, served)
    (plain,) = traces(page, LOSS)
    assert plain["meta"] == "line"

    page.fill("#smoothing", "0.6")
    page.wait_for_function(f'document.querySelector("{LOSS}").data.length === 2')
    raw, smoothed = traces(page, LOSS)
    assert (raw["meta"], smoothed["meta"]) == ("raw", "smoothed")
    assert raw["y"] == plain["y"], "the raw curve stays as it was"
    assert page.evaluate(f'document.querySelector("{LOSS}").data[0].opacity') < 0.5
    expected = debiased_ema(plain["y"], 0.6)
    assert all(
        math.isclose(a, b, rel_tol=1e-9) for a, b in zip(smoothed["y"], expected, strict=True)
    )
    assert smoothed["y"] != raw["y"]
    assert page.inner_text("#smoothing-value") == "0.60"
    page.screenshot(path=str(artifacts / "charts-smoothing.png"), full_page=True)

    page.fill("#smoothing", "0")
    page.wait_for_function(f'document.querySelector("{LOSS}").data.length === 1')
    assert traces(page, LOSS)[0]["meta"] == "line"


def test_a_pasted_url_restores_the_view(served: str, page: Any, browser: Any) -> None:
    """Selection, smoothing, x axis and log scale live in the hash; a new page shows the same."""
    page.goto(served + "/#/trials?sort=name&order=asc")
    page.wait_for_selector("#trials tbody tr")
    boxes = page.locator("#trials tbody input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(2).check()
    table_url = page.url
    page.click("#compare")
    page.wait_for_selector(LOSS + " .main-svg", timeout=CHART_TIMEOUT)
    page.fill("#smoothing", "0.5")
    page.select_option("#xmode", "relative")
    page.check("#logscale")
    compare_url = page.url
    drawn = traces(page, LOSS)

    other = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pasted = other.new_page()
        pasted.goto(compare_url)
        pasted.wait_for_selector(LOSS + " .main-svg", timeout=CHART_TIMEOUT)
        assert pasted.input_value("#smoothing") == "0.5"
        assert pasted.input_value("#xmode") == "relative"
        assert pasted.is_checked("#logscale")
        assert pasted.evaluate(f'document.querySelector("{LOSS}").layout.yaxis.type') == "log"
        assert traces(pasted, LOSS) == drawn
        assert [t["name"] for t in drawn if t["meta"] == "smoothed"] == ["lr=0.01", "lr=0.03"]

        pasted.goto(table_url)
        pasted.wait_for_selector("#trials tbody tr")
        checked = pasted.locator("#trials tbody tr:has(input:checked) td:nth-child(2)")
        assert sorted(checked.all_inner_texts()) == ["lr=0.01", "lr=0.03"]
        assert pasted.is_enabled("#compare")
    finally:
        other.close()


def test_grouping_a_sweep_draws_group_means_with_bands(
    grid: tuple[str, list[str]], page: Any, artifacts: Path
) -> None:
    """Grouping 3 lr x 3 seeds by all but the seed gives 3 mean curves, each over a min-max band."""
    url, uids = grid
    assert len(uids) == 9
    page.goto(f"{url}/#/compare?uids={','.join(uids)}")
    page.wait_for_selector(LOSS + " .main-svg", timeout=CHART_TIMEOUT)
    assert len(traces(page, LOSS)) == 9
    page.click("#group-but-seed")
    page.wait_for_function(f'document.querySelector("{LOSS}").data.length === 9')
    drawn = traces(page, LOSS)
    assert [t["meta"] for t in drawn] == ["band-low", "band-high", "line"] * 3
    assert [t["fill"] for t in drawn if t["meta"] == "band-high"] == ["tonexty"] * 3
    means = {t["name"]: t for t in drawn if t["meta"] == "line"}
    assert sorted(means) == ["lr=0.1 (3)", "lr=0.2 (3)", "lr=0.3 (3)"]
    low, high, mean = drawn[[t["name"] for t in drawn].index("lr=0.2 (3)") - 2 :][:3]
    assert mean["x"] == list(range(STEPS))
    for step in (0, STEPS - 1):
        assert math.isclose(mean["y"][step], 0.2 * (step + 1) + 0.02)
        assert math.isclose(low["y"][step], 0.2 * (step + 1) + 0.01)
        assert math.isclose(high["y"][step], 0.2 * (step + 1) + 0.03)
    assert "groupby=lr" in page.url
    page.screenshot(path=str(artifacts / "charts-grouped.png"), full_page=True)


def test_metrics_panel_filters_groups_by_prefix_and_sets_axes(
    grid: tuple[str, list[str]], page: Any, artifacts: Path
) -> None:
    """Metrics fold by prefix (system/ folded), the search box filters, log scale is per chart."""
    url, uids = grid
    page.goto(f"{url}/#/trial/{uids[0]}")
    page.wait_for_selector(LOSS + " .main-svg", timeout=CHART_TIMEOUT)
    sections = page.evaluate(
        """() => [...document.querySelectorAll('.metric-group')].map((s) =>
              [s.dataset.prefix, s.tagName === 'DETAILS' ? s.open : true])"""
    )
    assert sections == [["", True], ["system", False], ["val", True]]
    page.screenshot(path=str(artifacts / "charts-metrics-panel.png"), full_page=True)

    page.fill("#metric-filter", "VAL")
    visible = page.locator(".chart-cell:visible")
    assert visible.count() == 1
    assert visible.get_attribute("data-name") == "val/loss"
    page.check(".chart-cell[data-name='val/loss'] .chart-log")
    page.select_option("#xmode", "wall")
    layout = "document.querySelector(\".chart[data-metric='{}']\").layout"
    page.wait_for_function(layout.format("val/loss") + ".yaxis.type === 'log'")
    assert page.evaluate(layout.format("loss") + ".yaxis.type") == "linear"
    assert page.evaluate(layout.format("val/loss") + ".xaxis.type") == "date"

    page.fill("#metric-filter", "")
    page.click(".metric-group[data-prefix='system'] summary")
    page.wait_for_selector(".chart[data-metric='system/cpu'] .main-svg")
    cpu = traces(page, ".chart[data-metric='system/cpu']")[0]["y"]
    assert len(cpu) == STEPS // 10 and len(set(cpu)) == 1
    for part in ("log=val%2Floss", "x=wall", "open=system"):
        assert part in page.url


def stored_groups(url: str, uids: list[str]) -> dict[float, list[dict[str, Any]]]:
    """The stored loss series of the 3 x 3 sweep from the API, by learning rate."""
    groups: dict[float, list[dict[str, Any]]] = {}
    for uid in uids:
        with urllib.request.urlopen(f"{url}/api/trials/{uid}") as answer:
            lr = json.load(answer)["parameters"]["lr"]
        with urllib.request.urlopen(f"{url}/api/trials/{uid}/metrics?names=loss") as answer:
            groups.setdefault(lr, []).append(json.load(answer)["loss"])
    return groups


def group_compare(page: Any, url: str, uids: list[str]) -> None:
    """Open the compare view of ``uids`` and group it by all but the seed (min-max bands)."""
    page.goto(f"{url}/#/compare?uids={','.join(uids)}")
    page.wait_for_selector(LOSS + " .main-svg", timeout=CHART_TIMEOUT)
    assert page.is_disabled("#band"), "no band to choose before grouping"
    page.click("#group-but-seed")
    page.wait_for_function(f'document.querySelector("{LOSS}").data.length === 9')
    assert page.input_value("#band") == "minmax" and "band=" not in page.url


def choose_band(page: Any, band: str, traces_drawn: int) -> None:
    """Pick ``band`` in the band menu and wait until the loss chart holds ``traces_drawn``."""
    page.select_option("#band", band)
    page.wait_for_function(
        f'location.hash.includes("band={band}") && '
        f'document.querySelector("{LOSS}").data.length === {traces_drawn}'
    )


def test_std_band_is_the_mean_plus_minus_the_sample_std(
    grid: tuple[str, list[str]], page: Any, artifacts: Path
) -> None:
    """'± std' draws, at every step, the group mean ± the sample std of its runs' stored values."""
    url, uids = grid
    group_compare(page, url, uids)
    choose_band(page, "std", 9)
    drawn = traces(page, LOSS)
    assert [t["meta"] for t in drawn] == ["band-low", "band-high", "line"] * 3
    assert [t["fill"] for t in drawn if t["meta"] == "band-high"] == ["tonexty"] * 3
    for lr, runs in stored_groups(url, uids).items():
        assert len(runs) == 3
        name = f"lr={lr} (3)"
        low, high, mean = drawn[[t["name"] for t in drawn].index(name) - 2 :][:3]
        steps = sorted({step for run in runs for step in run["step"]})
        assert mean["x"] == low["x"] == high["x"] == steps == list(range(STEPS))
        for j, step in enumerate(steps):
            values = [run["value"][run["step"].index(step)] for run in runs]
            centre, spread = statistics.fmean(values), statistics.stdev(values)
            assert math.isclose(mean["y"][j], centre, rel_tol=1e-9)
            assert math.isclose(low["y"][j], centre - spread, rel_tol=1e-9, abs_tol=1e-12)
            assert math.isclose(high["y"][j], centre + spread, rel_tol=1e-9, abs_tol=1e-12)
            assert spread > 0 and not math.isclose(spread, statistics.pstdev(values))
    page.screenshot(path=str(artifacts / "charts-std-band.png"), full_page=True)


def test_a_pasted_url_restores_the_band_choice(
    grid: tuple[str, list[str]], page: Any, browser: Any
) -> None:
    """``band=std`` and ``band=none`` live in the hash; a new page draws the same traces."""
    url, uids = grid
    group_compare(page, url, uids)
    other = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        pasted = other.new_page()
        for band, count, metas in (
            ("std", 9, ["band-low", "band-high", "line"] * 3),
            ("none", 3, ["line"] * 3),
        ):
            choose_band(page, band, count)
            drawn = traces(page, LOSS)
            assert [t["meta"] for t in drawn] == metas
            pasted.goto("about:blank")
            pasted.goto(page.url)
            pasted.wait_for_function(
                f'(document.querySelector("{LOSS}") || {{}}).data?.length === {count}',
                timeout=CHART_TIMEOUT,
            )
            assert pasted.input_value("#band") == band and pasted.is_enabled("#band")
            assert traces(pasted, LOSS) == drawn
    finally:
        other.close()
