"""Live updates through the API: ``since`` sends only new points; an unchanged trial answers 304."""

from __future__ import annotations

import json
import time
import warnings

from optional import require

require("starlette")
with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what dev installs
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from track.dashboard.app import create_app  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.persistence.protocol import Protocol, TrialBatch  # noqa: E402
from track.structure import Status, Trial  # noqa: E402


def log(protocol: Protocol, trial: Trial, points: list[tuple[str, int | None, float]]) -> None:
    """Append ``(name, step, value)`` points to a running trial, with a fresh heartbeat."""
    now = time.time()
    batch = TrialBatch(
        metrics=[(name, step, value, now) for name, step, value in points],
        metadata={"start_time": now - 5, "heartbeat": now - 3},
        status={"name": Status.Running.name, "value": Status.Running.value},
    )
    protocol.log_trial_batch(trial, batch)
    protocol.commit()


def test_since_sends_new_points_and_an_unchanged_trial_answers_304(store_uri: str) -> None:
    """Counts per metric select the new points (exact without steps); the ETag gives 304."""
    protocol = get_protocol(store_uri)
    trial = Trial(name="live", parameters={"lr": 0.1})
    protocol.new_trial(trial)
    log(protocol, trial, [("loss", s, 1.0 / (s + 1)) for s in range(5)])
    log(protocol, trial, [("note", None, 1.0), ("note", None, 2.0)])  # series without steps
    url = f"/api/trials/{trial.uid}/metrics"
    with TestClient(create_app(protocol), base_url="http://127.0.0.1") as http:
        detail = http.get(f"/api/trials/{trial.uid}").json()
        assert detail["status"] == "Running" and 2 <= detail["heartbeat_age"] < 60

        full = http.get(url)
        assert full.json()["loss"]["total"] == 5 and full.json()["note"]["step"] == [0, 1]
        tag = full.headers["etag"]
        again = http.get(url, headers={"if-none-match": tag})
        assert again.status_code == 304 and again.content == b""

        since = {"params": {"since": json.dumps({"loss": 5, "note": 2})}}
        unchanged = http.get(url, **since)
        assert unchanged.json() == {}, "nothing new: no series is sent"

        log(protocol, trial, [("loss", 5, 0.5), ("loss", 6, 0.25), ("note", None, 3.0)])
        log(protocol, trial, [("acc", 6, 0.9)])
        assert http.get(url, headers={"if-none-match": tag}).status_code == 200
        new = http.get(url, **since)
        body = new.json()
        assert body["loss"]["step"] == [5, 6] and body["loss"]["value"] == [0.5, 0.25]
        assert (body["loss"]["from"], body["loss"]["total"]) == (5, 7)
        assert body["note"]["step"] == [2] and body["note"]["value"] == [3.0]
        assert body["acc"]["from"] == 0 and body["acc"]["value"] == [0.9], "a new metric whole"
        again = http.get(url, headers={"if-none-match": new.headers["etag"]}, **since)
        assert again.status_code == 304

        bad = http.get(url, params={"since": '{"loss": -1}'})
        assert bad.status_code == 400 and "since" in bad.json()["error"]
    protocol.close()
