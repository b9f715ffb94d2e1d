"""The dashboard's write endpoints: rename, note, tags and delete, and who may call them."""

from __future__ import annotations

import json
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from optional import require

require("starlette")
with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what dev installs
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from test_api import LOCAL  # noqa: E402
from uiprocess import running_ui  # noqa: E402

from track.dashboard.app import create_app  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.persistence.protocol import Protocol, TrialBatch  # noqa: E402
from track.structure import Trial  # noqa: E402

#: what the page's own fetch() sends: same origin, JSON
PAGE = {"origin": LOCAL, "sec-fetch-site": "same-origin"}


def filled(uri: str) -> list[Trial]:
    """Two trials with points, written to ``uri``."""
    store = get_protocol(uri)
    trials = [
        Trial(name=n, parameters={"lr": lr}, tags={"old": 1}) for n, lr in (("a", 1), ("b", 2))
    ]
    for trial in trials:
        store.new_trial(trial)
        store.log_trial_batch(trial, TrialBatch(metrics=[("loss", s, 1.0, 0.0) for s in range(4)]))
    store.close()
    return trials


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, list[Trial]]]:
    """A file store with two trials, and the trials."""
    uri = f"file://{tmp_path / 'store.json'}"
    yield uri, filled(uri)


def client(protocol: Protocol, **options: Any) -> TestClient:
    """A test client of the dashboard over ``protocol``."""
    return TestClient(create_app(protocol, **options), base_url=LOCAL)


def test_rename_note_tags_and_delete_reach_the_store(store: tuple[str, list[Trial]]) -> None:
    """Each edit is applied (read back through a fresh store); delete leaves the other trial."""
    uri, (a, b) = store
    protocol = get_protocol(uri)
    http = client(protocol, edit=True)
    assert http.get("/api/info").json()["edit"] is True
    shown = http.post(f"/api/trials/{a.uid[:12]}/display", json={"name": "base", "note": "ok"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["metadata"]["display_name"] == "base"
    tagged = http.post(
        f"/api/trials/{a.uid}/tags", json={"add": {"best": None, "k": 2}, "remove": ["old"]}
    )
    assert tagged.json()["tags"] == {"best": None, "k": 2}
    assert http.post(f"/api/trials/{b.uid}/delete", json={}, headers=PAGE).json() == {"deleted": 1}
    assert http.get(f"/api/trials/{b.uid}").status_code == 404
    protocol.close()
    fresh = get_protocol(uri)
    stored = fresh.get_trial(a)[0]
    assert (stored.uid, stored.name) == (a.uid, "a")
    assert stored.metadata["display_name"] == "base" and stored.metadata["note"] == "ok"
    assert fresh.get_trial(b) == [] and fresh.get_trial_metrics(b) == {}
    assert len(fresh.get_trial_metrics(a)["loss"]) == 4
    fresh.close()


@pytest.mark.parametrize(
    ("edit", "headers", "body", "status", "message"),
    [
        (False, {**PAGE, "content-type": "application/json"}, b"{}", 403, "editing is off"),
        (
            True,
            {"origin": "https://evil.example", "content-type": "application/json"},
            b"{}",
            403,
            "cross-site",
        ),
        (
            True,
            {"sec-fetch-site": "cross-site", "content-type": "application/json"},
            b"{}",
            403,
            "cross-site",
        ),
        (
            True,
            {**PAGE, "content-type": "application/x-www-form-urlencoded"},
            b"a=1",
            415,
            "application/json",
        ),
        (True, {**PAGE, "content-type": "text/plain"}, b"{}", 415, "application/json"),
        (True, {**PAGE, "content-type": "application/json"}, b"[1]", 400, "JSON object"),
    ],
    ids=["edit-off", "foreign-origin", "cross-site-fetch", "form", "text-plain", "not-object"],
)
def test_edits_are_refused_unless_allowed_same_origin_and_json(
    store: tuple[str, list[Trial]],
    edit: bool,
    headers: dict[str, str],
    body: bytes,
    status: int,
    message: str,
) -> None:
    """A forged or disallowed write (delete, rename) is refused and changes nothing."""
    uri, (a, _) = store
    protocol = get_protocol(uri)
    http = client(protocol, edit=edit)
    for action in ("delete", "display"):
        answer = http.post(f"/api/trials/{a.uid}/{action}", content=body, headers=headers)
        assert answer.status_code == status and message in answer.json()["error"], answer.text
    assert http.get(f"/api/trials/{a.uid}/delete").status_code == 405
    stored = protocol.get_trial(a)
    assert stored and "display_name" not in stored[0].metadata
    protocol.close()


def test_edits_need_a_login_when_the_dashboard_has_users(store: tuple[str, list[Trial]]) -> None:
    """With users, a write without a session is 401 like every other API call."""
    uri, (a, _) = store
    protocol = get_protocol(uri)
    http = client(protocol, edit=True, users={"someone": "not-a-hash"})
    assert http.post(f"/api/trials/{a.uid}/delete", json={}).status_code == 401
    assert protocol.get_trial(a)
    protocol.close()


def info(url: str) -> dict[str, Any]:
    """``/api/info`` of a running dashboard."""
    with urllib.request.urlopen(url + "/api/info", timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def test_track_ui_allows_edits_on_loopback_and_elsewhere_only_with_allow_edit(
    store: tuple[str, list[Trial]],
) -> None:
    """The real ``track ui``: loopback edits (a rename goes through); beyond, --allow-edit."""
    uri, (a, _) = store
    with running_ui(uri) as url:
        assert info(url)["edit"] is True
        request = urllib.request.Request(
            f"{url}/api/trials/{a.uid}/display",
            data=json.dumps({"name": "renamed"}).encode(),
            headers={"content-type": "application/json", "origin": url},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["metadata"]["display_name"] == "renamed"
    with running_ui(uri, "--host", "0.0.0.0", "--no-auth") as url:
        assert info(url)["edit"] is False
    with running_ui(uri, "--host", "0.0.0.0", "--no-auth", "--allow-edit") as url:
        assert info(url)["edit"] is True


def test_the_trial_page_renames_and_deletes_after_confirmation(
    store: tuple[str, list[Trial]], page: Any
) -> None:
    """In a browser: Save renames (the heading shows it); Delete asks, and a refusal keeps it."""
    uri, (a, _) = store
    with running_ui(uri) as url:
        page.goto(f"{url}/#/trial/{a.uid}")
        page.fill("#edit-name", "baseline")
        page.fill("#edit-tags", "+best -old")
        page.click("#edit-save")
        page.wait_for_function("document.querySelector('h1').textContent.includes('baseline')")
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click("#edit-delete")
        page.wait_for_timeout(200)
        assert info(url)["edit"] is True
        fresh = get_protocol(uri)
        kept = fresh.get_trial(a)
        fresh.close()
        assert kept and kept[0].metadata["display_name"] == "baseline"
        assert kept[0].tags == {"best": None}
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#edit-delete")
        page.wait_for_url(lambda address: "/trial/" not in address)
    fresh = get_protocol(uri)
    assert fresh.get_trial(a) == []
    fresh.close()
