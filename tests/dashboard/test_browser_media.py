"""The trial page's Media section in headless chromium: an image series with a step slider and a
sortable table, logged with TrialLogger.log_image / log_table into a real sqlite store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from uiprocess import running_ui

from optional import require
from track import TrackClient

TIMEOUT = 15_000  # ms
#: one solid colour and size per step, so the page's image is told apart by both
STEPS = [((255, 0, 0), (2, 3)), ((0, 255, 0), (4, 5)), ((0, 0, 255), (6, 7))]


@pytest.fixture(scope="module")
def media_trial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``track ui`` over a trial with an image logged at 3 steps and one table: URL and uid."""
    np = require("numpy")
    require("PIL.Image")
    uri = f"sqlite:///{tmp_path_factory.mktemp('media') / 'media.db'}"
    client = TrackClient(uri)
    trial = client.new_trial(name="media")
    with trial:
        for step, (colour, (height, width)) in enumerate(STEPS):
            pixels = np.zeros((height, width, 3), dtype=np.uint8)
            pixels[:, :] = colour
            trial.log_image("samples", pixels, step=step * 10)
        trial.log_table("scores", ["name", "score"], [["b", 2], ["c", 10], ["a", 1]])
    client.close()
    with running_ui(uri) as url:
        yield url, trial.uid


def shown_image(page: Any) -> dict[str, Any]:
    """The media image once loaded: its natural size and its first pixel, decoded on a canvas."""
    page.wait_for_function(
        "() => { const i = document.querySelector('#media img'); return i && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT,
    )
    return page.evaluate(
        """() => { const img = document.querySelector('#media img');
                   const canvas = document.createElement('canvas');
                   canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
                   const context = canvas.getContext('2d');
                   context.drawImage(img, 0, 0);
                   return { width: img.naturalWidth, height: img.naturalHeight,
                            pixel: Array.from(context.getImageData(0, 0, 1, 1).data.slice(0, 3)),
                            step: img.dataset.step }; }"""
    )


def test_image_slider_switches_steps(page: Any, media_trial: tuple[str, str]) -> None:
    """The last step shows first; moving the slider shows each step's own image."""
    url, uid = media_trial
    page.goto(f"{url}/#/trial/{uid}")
    page.wait_for_selector("#media .media-step", timeout=TIMEOUT)
    assert page.get_attribute("#media .media-step", "max") == "2"
    for index in (2, 0, 1):
        page.evaluate(
            """(value) => { const s = document.querySelector('#media .media-step');
                            s.value = value; s.dispatchEvent(new Event('input')); }""",
            index,
        )
        page.wait_for_function(
            "(step) => document.querySelector('#media img').dataset.step === step",
            arg=str(index * 10),
            timeout=TIMEOUT,
        )
        colour, (height, width) = STEPS[index]
        assert shown_image(page) == {
            "width": width,
            "height": height,
            "pixel": list(colour),
            "step": str(index * 10),
        }


def test_table_sorts_on_header_click(page: Any, media_trial: tuple[str, str]) -> None:
    """The table shows in logged order; a header click sorts by it, a second click reverses."""
    url, uid = media_trial
    page.goto(f"{url}/#/trial/{uid}")
    page.wait_for_selector("#media table tbody tr", timeout=TIMEOUT)

    def column(index: int) -> list[str]:
        cells = page.query_selector_all(f"#media tbody tr td:nth-child({index})")
        return [cell.inner_text() for cell in cells]

    assert column(1) == ["b", "c", "a"]
    page.click("#media th:has-text('score')")
    assert column(2) == ["1", "2", "10"]
    page.click("#media th:has-text('score')")
    assert column(2) == ["10", "2", "1"]
    page.click("#media th:has-text('name')")
    assert column(1) == ["a", "b", "c"]
