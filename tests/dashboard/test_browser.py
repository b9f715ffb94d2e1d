"""End-to-end: ``track ui`` on a store filled by a real run, driven in headless chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHART_TIMEOUT = 15_000  # ms


def chart_shapes(page: Any) -> dict[str, list[int]]:
    """For each drawn chart, the number of points of each of its traces."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.chart[data-metric]')]
              .map((n) => [n.dataset.metric, (n.data || []).map((t) => t.x.length)]))"""
    )


def test_trials_table_filter_and_trial_page(served: str, page: Any, artifacts: Path) -> None:
    """The table lists the sweep, filters by a query, and a trial page draws one curve per metric."""
    page.goto(served + "/#/trials")
    page.wait_for_selector("#trials tbody tr")
    assert page.locator("#trials tbody tr").count() == 4
    assert page.inner_text("#range") == "1\u20134 of 4"
    assert "null" not in page.inner_text(".pager")
    page.screenshot(path=str(artifacts / "trials-table.png"), full_page=True)

    page.fill("#filter", "parameters.lr>0.025")
    page.click("#apply")
    page.wait_for_function("document.querySelectorAll('#trials tbody tr').length === 2")
    names = sorted(page.locator("#trials tbody tr td:nth-child(2)").all_inner_texts())
    assert names == ["lr=0.03", "lr=0.04"]

    page.click("th[data-column='metrics.loss']")
    page.wait_for_selector("th.sorted[data-column='metrics.loss']")

    page.click("#trials tbody tr a")
    page.wait_for_selector(".chart[data-metric='loss'] .main-svg", timeout=CHART_TIMEOUT)
    page.wait_for_selector(".chart[data-metric='accuracy'] .main-svg", timeout=CHART_TIMEOUT)
    assert chart_shapes(page) == {"accuracy": [20], "loss": [200]}
    assert "lr" in page.inner_text("#parameters")
    assert "w=" in page.inner_text("#output-stdout")
    page.check("#logscale")
    assert (
        page.evaluate("document.querySelector(\".chart[data-metric='loss']\").layout.yaxis.type")
        == "log"
    )
    page.screenshot(path=str(artifacts / "trial-page.png"), full_page=True)


def test_bad_filter_shows_the_error(served: str, page: Any) -> None:
    """A malformed query shows the server's one-line explanation above the table."""
    page.goto(served + "/#/trials")
    page.wait_for_selector("#trials tbody tr")
    page.fill("#filter", "lr>")
    page.press("#filter", "Enter")
    page.wait_for_function("document.querySelector('#message').textContent.includes('bad query')")
    assert "bad query" in page.inner_text("#message")
    assert page.locator("#trials tbody tr").count() == 4, "the table stays as it was"


def test_compare_three_trials(served: str, page: Any, artifacts: Path) -> None:
    """Selecting three trials and comparing overlays three named curves per metric."""
    page.goto(served + "/#/trials?sort=name&order=asc")
    page.wait_for_selector("#trials tbody tr")
    boxes = page.locator("#trials tbody input[type=checkbox]")
    for i in range(3):
        boxes.nth(i).check()
    page.click("#compare")
    page.wait_for_selector(".chart[data-metric='loss'] .main-svg", timeout=CHART_TIMEOUT)
    assert chart_shapes(page) == {"accuracy": [20, 20, 20], "loss": [200, 200, 200]}
    legend = page.evaluate(
        "document.querySelector(\".chart[data-metric='loss']\").data.map((t) => t.name)"
    )
    assert legend == ["lr=0.01", "lr=0.02", "lr=0.03"]
    assert page.locator(".chart[data-metric='loss'] .legendtext").count() == 3
    page.screenshot(path=str(artifacts / "compare.png"), full_page=True)


def test_search_view_draws_parcoords_and_scatter(served: str, page: Any, artifacts: Path) -> None:
    """The group's search view plots parameters against a metric, one line and point per trial."""
    page.goto(served + "/#/")
    page.click(".card")
    page.click("text=search view")
    page.wait_for_selector("#scatter .main-svg", timeout=CHART_TIMEOUT)
    page.select_option("#metric", "loss")
    page.select_option("#param", "lr")
    dimensions = page.evaluate("document.querySelector('#parcoords').data[0].dimensions.length")
    points = page.evaluate("document.querySelector('#scatter').data[0].x")
    assert dimensions == 3
    assert sorted(points) == [0.01, 0.02, 0.03, 0.04]
    page.screenshot(path=str(artifacts / "search.png"), full_page=True)
