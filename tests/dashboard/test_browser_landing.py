"""Landing on a one-project store, and metric summary columns in the runs table, in chromium."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

MIN_LOSS = "td[data-summary='loss:min']"


def test_one_project_lands_on_its_runs_table_with_sortable_summaries(
    served: str, page: Any, artifacts: Path
) -> None:
    """``/`` opens the only project's table; a loss (min) column sorts it and stays in the URL."""
    page.goto(served + "/")
    page.wait_for_selector("#trials tbody tr")
    assert "#/trials?" in page.url and "project=demo" in page.url
    assert page.locator("#trials tbody tr").count() == 4

    page.select_option("#summary-metric", "loss")
    page.select_option("#summary-kind", "min")
    page.click("#add-summary")
    page.wait_for_selector(MIN_LOSS)
    header = "th[data-column='summaries.loss:min']"
    page.click(header, position={"x": 8, "y": 8})  # the title, not its remove button: desc first
    page.wait_for_selector("th.sorted.desc[data-column='summaries.loss:min']")
    page.click(header, position={"x": 8, "y": 8})
    page.wait_for_selector("th.sorted.asc[data-column='summaries.loss:min']")
    shown = [float(t) for t in page.locator(MIN_LOSS).all_inner_texts()]
    assert shown == sorted(shown) and len(set(shown)) == 4

    query = "summary=loss%3Amin&sort=summaries.loss%3Amin&order=asc&project=demo"
    with urllib.request.urlopen(f"{served}/api/trials?{query}") as answer:
        rows = json.load(answer)["rows"]
    uids = page.evaluate(
        "Array.from(document.querySelectorAll('#trials tbody tr'), (r) => r.dataset.uid)"
    )
    assert uids == [r["uid"] for r in rows], "the server sorted the table"
    assert "summary=loss%3Amin" in page.url
    page.screenshot(path=str(artifacts / "runs-table-summaries.png"), full_page=True)

    pasted = page.context.new_page()
    pasted.goto(served + "/#/trials?project=demo&summary=loss%3Amin&sort=summaries.loss%3Amin")
    pasted.wait_for_selector(MIN_LOSS)
    pasted.click("th[data-column='summaries.loss:min'] .remove-summary")
    pasted.wait_for_function("!document.querySelector(\"td[data-summary='loss:min']\")")
    assert "summary=" not in pasted.url

    pasted.goto(served + "/#/")  # the "projects" link still lists the projects
    pasted.wait_for_selector(".card")
