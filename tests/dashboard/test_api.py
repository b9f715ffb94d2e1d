"""The dashboard's JSON API on every store kind, through Starlette's test client."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator

import pytest

from optional import require

require("starlette")
with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what dev installs
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from track.dashboard.app import create_app  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.persistence.protocol import Protocol, TrialBatch  # noqa: E402
from track.structure import Project, Status, Trial, TrialGroup  # noqa: E402

#: the test client's base URL: a loopback name, which the dashboard's Host allow-list accepts
LOCAL = "http://127.0.0.1"


def fill(protocol: Protocol) -> list[Trial]:
    """Project ``p``, group ``g`` and three trials; the last is still running and has a NaN."""
    protocol.new_project(Project(name="p"))
    group = TrialGroup(name="g", project_id="p")
    protocol.new_trial_group(group)
    trials = []
    now = time.time()
    for i, lr in enumerate((0.1, 0.01, 0.001)):
        trial = Trial(name=f"t{i}", parameters={"lr": lr, "opt": "sgd" if i else "adam"})
        trial.project_id, trial.group_id = "p", group.uid
        protocol.new_trial(trial)
        protocol.add_project_trial(Project(name="p"), trial)
        protocol.add_group_trial(group, trial)
        points = [("loss", s, 1.0 / (s + 1 + i), now + s) for s in range(3000)]
        points.append(("loss", 3000, math.nan, now + 3000))
        points += [("acc", s, 0.1 * s * (i + 1), now + s) for s in range(5)]
        running = i == 2
        status = Status.Running if running else Status.Completed
        metadata = {"start_time": now - 10 * (i + 1), "heartbeat": now, "heartbeat_interval": 60}
        if not running:
            metadata["end_time"] = now
        batch = TrialBatch(
            metrics=points,
            metadata=metadata,
            status={"name": status.name, "value": status.value},
        )
        protocol.log_trial_batch(trial, batch)
        trials.append(trial)
    protocol.commit()
    return trials


@pytest.fixture
def client(store_uri: str) -> Iterator[tuple[TestClient, list[Trial]]]:
    """A test client of the dashboard over a filled store of each kind."""
    protocol = get_protocol(store_uri)
    trials = fill(protocol)
    with TestClient(create_app(protocol), base_url=LOCAL) as test_client:
        yield test_client, trials
    protocol.close()


def test_projects_and_groups(client: tuple[TestClient, list[Trial]]) -> None:
    """Projects list their group and trial counts; groups list theirs; unknown project is 404."""
    http, _ = client
    assert http.get("/api/projects").json() == [
        {"uid": "p", "name": "p", "description": None, "groups": 1, "trials": 3}
    ]
    groups = http.get("/api/projects/p/groups").json()
    assert [(g["name"], g["trials"]) for g in groups] == [("g", 3)]
    missing = http.get("/api/projects/nope/groups")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_trials_table_sorts_filters_and_pages(client: tuple[TestClient, list[Trial]]) -> None:
    """The table sorts by any column, filters with the query language and pages on the server."""
    http, _ = client
    page = http.get("/api/trials", params={"sort": "parameters.lr", "order": "asc"}).json()
    assert page["total"] == 3 and page["running"] == 1
    assert page["parameters"] == ["lr", "opt"] and page["metrics"] == ["acc", "loss"]
    assert [r["parameters"]["lr"] for r in page["rows"]] == [0.001, 0.01, 0.1]
    assert page["rows"][0]["metrics"]["loss"] == "nan"
    assert page["rows"][1]["duration"] == pytest.approx(20)
    second = http.get("/api/trials", params={"sort": "name", "offset": 1, "limit": 1}).json()
    assert [r["name"] for r in second["rows"]] == ["t1"] and second["total"] == 3
    filtered = http.get("/api/trials", params={"where": "parameters.opt=sgd status=completed"})
    assert [r["name"] for r in filtered.json()["rows"]] == ["t1"]
    grouped = http.get("/api/trials", params={"project": "p", "group": "g", "limit": 0}).json()
    assert len(grouped["rows"]) == 3


def test_trial_detail_and_downsampled_metrics(client: tuple[TestClient, list[Trial]]) -> None:
    """A trial's detail holds last values; its curves are downsampled, keeping the extremes."""
    http, trials = client
    uid = trials[0].uid
    detail = http.get(f"/api/trials/{uid}").json()
    assert detail["status"] == "Completed" and detail["parameters"]["lr"] == 0.1
    assert detail["metrics"]["acc"] == pytest.approx(0.4)
    series = http.get(f"/api/trials/{uid}/metrics", params={"points": 500}).json()
    loss = series["loss"]
    assert loss["total"] == 3001 and loss["dropped"] == 1
    assert len(loss["value"]) == 500
    assert max(loss["value"]) == 1.0 and loss["step"][0] == 0 and loss["step"][-1] == 2999
    assert len(series["acc"]["value"]) == 5
    only = http.get(f"/api/trials/{uid}/metrics", params={"names": "acc"}).json()
    assert list(only) == ["acc"]


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/api/trials?where=lr>", 400, "no value after the operator"),
        ("/api/trials?where={bad", 400, "not valid JSON"),
        ("/api/trials?limit=many", 400, "limit must be an integer"),
        ("/api/trials?order=up", 400, "order must be asc or desc"),
        ("/api/trials?group=nope", 404, "no group 'nope'"),
        ("/api/trials/ffff_0", 404, "no trial 'ffff_0'"),
        ("/api/trials/ffff_0/metrics", 404, "no trial"),
    ],
)
def test_bad_requests_get_a_json_error(
    client: tuple[TestClient, list[Trial]], url: str, status: int, message: str
) -> None:
    """Bad queries, parameters and unknown uids answer with a status and a one-line error."""
    http, _ = client
    response = http.get(url)
    assert response.status_code == status and message in response.json()["error"]


def test_pages_and_plotly_are_served_locally(client: tuple[TestClient, list[Trial]]) -> None:
    """The page, its script and plotly.js come from the app itself, gzipped; no CDN."""
    http, _ = client
    index = http.get("/")
    assert index.status_code == 200 and "/static/plotly.min.js" in index.text
    assert "http" not in index.text.replace("http-equiv", "")
    plotly_js = http.get("/static/plotly.min.js", headers={"accept-encoding": "gzip"})
    assert plotly_js.status_code == 200 and plotly_js.headers["content-encoding"] == "gzip"
    assert "Plotly" in plotly_js.text[:5000]
    assert http.get("/static/app.js").status_code == 200
