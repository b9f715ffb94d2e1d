"""End-to-end in headless chromium: login, logout, wrong passwords, expiry, the no-auth banner,
and names holding HTML that must show as text in the charts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from uiprocess import PASSWORD, USER, running_ui

from track import TrackClient

CHART_TIMEOUT = 15_000  # ms
#: a name a hostile (or careless) user gives a trial, a metric or a parameter
HOSTILE = '<a href="https://x.example">click</a>'
#: every link element in the page pointing at x.example (HTML or SVG ``xlink:href``)
LINKS = """() => [...document.querySelectorAll('a')].filter((a) =>
    ((a.getAttribute('href') || '') + (a.getAttribute('xlink:href') || '')).includes('x.example')
  ).length"""


def log_in(page: Any, password: str = PASSWORD) -> int:
    """Fill and submit the login form; the HTTP status of the login request."""
    page.fill("#username", USER)
    page.fill("#password", password)
    with page.expect_response("**/api/login") as answer:
        page.click("#login")
    return answer.value.status


@pytest.fixture
def with_users(example_store: str, users_file: Path) -> Iterator[str]:
    """``track ui --users`` over the example store (a fresh server: a fresh login throttle)."""
    with running_ui(example_store, "--users", str(users_file)) as url:
        yield url


def test_login_and_logout(with_users: str, page: Any, artifacts: Path) -> None:
    """The store hides behind a login form; logging in shows it, logging out hides it again."""
    page.goto(with_users + "/#/trials")
    page.wait_for_selector("#login-form")
    assert page.locator("#trials").count() == 0 and "lr=0.01" not in page.content()
    assert page.inner_text("#login-message") == "log in to see this store"
    page.screenshot(path=str(artifacts / "login.png"), full_page=True)

    assert log_in(page) == 200
    page.wait_for_selector("#trials tbody tr")
    assert page.locator("#trials tbody tr").count() == 4
    assert page.inner_text("#user") == USER and page.is_visible("#logout")
    cookie = next(c for c in page.context.cookies() if c["name"] == "track_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert page.evaluate("document.cookie") == "", "scripts must not read the session cookie"

    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert not [c for c in page.context.cookies() if c["name"] == "track_session"]
    assert page.evaluate("fetch('/api/projects').then((r) => r.status)") == 401
    page.goto(with_users + "/#/trial/anything")
    page.wait_for_selector("#login-form")
    assert page.inner_text("#user") == "" and not page.is_visible("#logout")


def test_a_wrong_password_is_refused_then_throttled(with_users: str, page: Any) -> None:
    """A wrong password shows an error and no data; retrying at once is refused without a check."""
    page.goto(with_users + "/")
    page.wait_for_selector("#login-form")
    assert log_in(page, "wrong password") == 401
    page.wait_for_function("document.querySelector('#login-error').textContent !== ''")
    assert page.inner_text("#login-error") == "wrong user name or password"
    assert page.locator("#login-form").count() == 1 and page.locator(".card").count() == 0

    assert log_in(page) == 429, "the address is in its penalty period"
    page.wait_for_function("document.querySelector('#login-error').textContent.includes('try')")
    assert "too many failed logins" in page.inner_text("#login-error")


def test_an_expired_session_leads_back_to_the_login(
    example_store: str, users_file: Path, page: Any
) -> None:
    """Once the session lifetime has passed, the next view asks for a login again."""
    args = ("--users", str(users_file), "--session-lifetime", "3s")
    with running_ui(example_store, *args) as url:
        page.goto(url + "/#/")
        page.wait_for_selector("#login-form")
        assert log_in(page) == 200
        page.wait_for_timeout(3500)
        page.goto(url + "/#/trials")
        page.wait_for_selector("#login-form")
        page.wait_for_function(
            "document.querySelector('#login-message').textContent.includes('expired')"
        )
        assert page.inner_text("#login-message") == "your session expired: log in again"
        assert page.locator("#trials tbody tr").count() == 0


def test_no_auth_shows_a_banner_on_every_page(example_store: str, page: Any) -> None:
    """``--no-auth``: the store is served without a login, under a visible warning banner."""
    with running_ui(example_store, "--no-auth") as url:
        for view in ("/#/", "/#/trials", "/static/index.html#/"):
            page.goto(url + view)
            page.wait_for_selector("#view :not(.muted)")
            assert page.is_visible("#no-auth-banner"), view
            assert "anyone who can reach" in page.inner_text("#no-auth-banner")
            assert page.locator("#no-auth-banner").count() == 1


# ---- names holding HTML ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A file store whose trial, metric, parameter name and value are :data:`HOSTILE`."""
    uri = f"file://{tmp_path_factory.mktemp('hostile') / 'store.json'}"
    client = TrackClient(uri)
    client.set_project(name="p")
    client.set_group(name="g")
    uids = []
    for i in range(2):
        trial = client.new_trial(
            name=HOSTILE if i == 0 else "plain",
            parameters={HOSTILE: i + 1, "opt": HOSTILE if i == 0 else "sgd"},
            force=True,
        )
        with trial:
            for step in range(5):
                trial.log_metrics(step=step, **{HOSTILE: step * (i + 1), "loss": 1.0 / (step + 1)})
        uids.append(trial.uid)
    client.close()
    with running_ui(uri) as url:
        yield url, uids


def texts(page: Any, selector: str) -> list[str]:
    """The text content of every element ``selector`` matches."""
    return page.evaluate(f"[...document.querySelectorAll({selector!r})].map((n) => n.textContent)")


def test_html_in_names_shows_as_text_in_charts(
    hostile_store: tuple[str, list[str]], page: Any, artifacts: Path
) -> None:
    """Titles, legends, axis labels, ticks and hover text show the name literally, with no link."""
    url, uids = hostile_store
    page.goto(f"{url}/#/trial/{uids[0]}")
    page.wait_for_function("document.querySelectorAll('.chart .main-svg').length >= 2")
    assert HOSTILE in texts(page, ".chart .gtitle")
    assert HOSTILE in page.inner_text("h1")
    assert page.evaluate(LINKS) == 0

    page.goto(f"{url}/#/compare?uids={','.join(uids)}")
    page.wait_for_function("document.querySelectorAll('.chart .legendtext').length >= 4")
    assert HOSTILE in texts(page, ".chart .legendtext")
    assert HOSTILE in texts(page, ".chart .gtitle")
    assert page.evaluate(LINKS) == 0
    page.screenshot(path=str(artifacts / "hostile-compare.png"), full_page=True)

    page.goto(f"{url}/#/")
    page.click(".card")
    page.click("text=search view")
    page.wait_for_selector("#scatter .main-svg", timeout=CHART_TIMEOUT)
    page.select_option("#metric", HOSTILE)
    page.select_option("#param", "opt")
    page.wait_for_function("document.querySelectorAll('#parcoords .axis-title').length === 3")
    assert texts(page, "#parcoords .axis-title").count(HOSTILE) == 2  # the parameter, the metric
    assert HOSTILE in texts(page, "#parcoords .tick text")  # the categorical value
    assert HOSTILE in texts(page, "#scatter .xtick text")
    assert HOSTILE in texts(page, "#scatter .gtitle")[0]
    hovered = []
    for i in range(2):  # the drag layer above the points takes the mouse: force the hover
        page.hover(f"#scatter .point >> nth={i}", force=True)
        page.wait_for_selector("#scatter .hovertext")
        hovered += texts(page, "#scatter .hovertext")
        page.mouse.move(0, 0)
        page.wait_for_selector("#scatter .hovertext", state="detached")
    assert any(HOSTILE in text for text in hovered), hovered
    assert page.evaluate(LINKS) == 0
    page.screenshot(path=str(artifacts / "hostile-search.png"), full_page=True)
