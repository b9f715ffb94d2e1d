"""The runs table's metric summary columns (last, min, max), sorted on the server."""

from __future__ import annotations

import time
import warnings

from optional import require

require("starlette")
with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what dev installs
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from track.dashboard.app import create_app  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.persistence.protocol import TrialBatch  # noqa: E402
from track.structure import Trial  # noqa: E402

#: each trial's loss curve: the minimum, maximum and last value all rank the trials differently
CURVES = {"a": [5.0, 1.0, 3.0], "b": [2.0, 2.5, 2.2], "c": [9.0, 1.5, 1.6]}


def test_summary_columns_show_and_sort_last_min_and_max(store_uri: str) -> None:
    """``summary=loss:min`` adds a column per row that sorts the whole table, not one page."""
    protocol = get_protocol(store_uri)
    now = time.time()
    for i, (name, values) in enumerate(CURVES.items()):
        trial = Trial(name=name, parameters={"i": i})
        protocol.new_trial(trial)
        points = [("loss", s, v, now + s) for s, v in enumerate(values)]
        protocol.log_trial_batch(
            trial, TrialBatch(metrics=points, metadata={"start_time": now + i})
        )
    protocol.commit()
    with TestClient(create_app(protocol), base_url="http://127.0.0.1") as http:
        columns = ["loss:min", "loss:max", "loss:last"]

        def names(sort: str, order: str = "asc", limit: int = 50) -> list[str]:
            params = {"summary": columns, "sort": sort, "order": order, "limit": limit}
            page = http.get("/api/trials", params=params).json()
            assert page["summaries"] == columns
            return [row["name"] for row in page["rows"]]

        page = http.get(
            "/api/trials", params={"summary": columns, "sort": "name", "order": "asc"}
        ).json()
        assert [r["summaries"] for r in page["rows"]] == [
            {"loss:min": 1.0, "loss:max": 5.0, "loss:last": 3.0},
            {"loss:min": 2.0, "loss:max": 2.5, "loss:last": 2.2},
            {"loss:min": 1.5, "loss:max": 9.0, "loss:last": 1.6},
        ]
        assert names("summaries.loss:min") == ["a", "c", "b"]
        assert names("summaries.loss:max", "desc") == ["c", "a", "b"]
        assert names("summaries.loss:last", limit=1) == ["c"], "sorted before paging"
        bad = http.get("/api/trials", params={"summary": "loss:mean"})
        assert bad.status_code == 400 and "loss:mean" in bad.json()["error"]
    protocol.close()
