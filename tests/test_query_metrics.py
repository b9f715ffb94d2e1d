"""Metric summaries in the query language (``metrics.<name>.<summary>``) on every store kind.

The same table of queries runs against each kind of ``STORE_KINDS``: the document stores evaluate
it in Python, the SQL stores (and the servers in front of them) compile it to SQL on the
``series`` table. Each query must select exactly the same trials everywhere.
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import track
from optional import require
from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch
from track.query import QueryError, parse
from track.structure import CustomStatus, Project, Trial

NAN = math.nan
INF = math.inf
ODD = "'); DROP TABLE series; --"

#: per trial: its lr and its metric batches, each a list of (name, step, value)
TRIALS: dict[str, tuple[float, list[list[tuple[str, Any, float]]]]] = {
    "a": (
        0.1,
        [
            [("loss", 0, 1.0), ("loss", 1, 0.5), ("val.acc", 0, 0.7), ("train/loss", 0, 0.3)],
            [("loss", 2, 0.05), ("val.acc", 1, 0.9), (ODD, 0, 1.0)],
        ],
    ),
    "b": (0.01, [[("loss", 0, 2.0), ("val.acc", 0, 0.95)], [("loss", 1, NAN)]]),
    "c": (
        0.1,
        [[("loss", 10, 0.2), ("loss", 20, 0.08), ("loss", 30.5, 0.09)], [("train/loss", 0, NAN)]],
    ),
    "d": (0.001, []),
    "e": (0.01, [[("loss", "final", 0.5)]]),
    "f": (0.1, [[("loss", None, INF)]]),
}
EVERY = set(TRIALS)

#: (query, the names of the trials it selects)
QUERIES: list[tuple[dict[str, Any], set[str]]] = [
    ({"metrics.loss.last": {"$lt": 0.1}}, {"a", "c"}),
    ({"metrics.loss.last": {"$gte": 0.1}}, {"e", "f"}),
    ({"metrics.loss.last": {"$gt": 0.06, "$lt": 1}}, {"c", "e"}),
    ({"metrics.loss.last": 0.05}, {"a"}),
    ({"metrics.loss.last": {"$ne": 0.05}}, EVERY - {"a"}),
    ({"metrics.loss.last": {"$in": [0.09, 0.5, 7]}}, {"c", "e"}),
    ({"metrics.loss.last": {"$nin": [0.09, 0.5]}}, {"a", "b", "d", "f"}),
    ({"metrics.loss.last": {"$gt": 1e308}}, {"f"}),
    ({"metrics.loss.min": {"$lte": 0.08}}, {"a", "c"}),
    ({"metrics.loss.min": 2}, {"b"}),
    ({"metrics.loss.max": {"$gt": 1.5}}, {"b", "f"}),
    ({"metrics.loss.max": 1.0}, {"a"}),
    ({"metrics.loss.count": 3}, {"a", "c"}),
    ({"metrics.loss.count": {"$in": [1, 2]}}, {"b", "e", "f"}),
    ({"metrics.loss.count": {"$nin": [1, 2]}}, {"a", "c", "d"}),
    ({"metrics.loss.count": {"$gte": 2.5}}, {"a", "c"}),
    ({"metrics.loss.step": 2}, {"a"}),
    ({"metrics.loss.step": 30.5}, {"c"}),
    ({"metrics.loss.step": {"$gt": 1}}, {"a", "c"}),
    ({"metrics.loss.step": "final"}, {"e"}),
    ({"metrics.loss.step": {"$gte": "a"}}, {"e"}),
    ({"metrics.loss.step": None}, {"f"}),
    ({"metrics.loss.step": {"$ne": None}}, EVERY - {"f"}),
    # missing series: only $exists false, $ne and $nin hold
    ({"metrics.loss.last": {"$exists": True}}, EVERY - {"d"}),
    ({"metrics.loss.count": {"$exists": False}}, {"d"}),
    ({"metrics.nothing.last": {"$ne": 1}}, EVERY),
    ({"metrics.nothing.max": {"$lt": 1}}, set()),
    # NaN compares false to everything, NaN itself included
    ({"metrics.loss.last": {"$eq": NAN}}, set()),
    ({"metrics.loss.last": {"$lt": NAN}}, set()),
    ({"metrics.loss.last": {"$ne": NAN}}, EVERY),
    ({"metrics.train/loss.min": {"$lt": 1}}, {"a"}),
    ({"metrics.train/loss.max": {"$ne": 0.3}}, EVERY - {"a"}),
    ({"metrics.train/loss.last": {"$exists": True}}, {"a", "c"}),
    # dotted names: the last segment is the summary
    ({"metrics.val.acc.max": {"$gte": 0.9}}, {"a", "b"}),
    ({"metrics.val.acc.count": 2}, {"a"}),
    ({f"metrics.{ODD}.last": 1}, {"a"}),
    # values of other types: bools are 0/1 as in Python, strings order no number
    ({"metrics.loss.count": True}, {"e", "f"}),
    ({"metrics.loss.last": {"$lt": "z"}}, set()),
    ({"metrics.loss.min": None}, set()),
    # with other conditions and logic
    ({"parameters.lr": 0.1, "metrics.loss.last": {"$lt": 0.1}}, {"a", "c"}),
    ({"parameters.lr": 0.01, "metrics.loss.min": {"$lt": 1}}, {"e"}),
    (
        {"$or": [{"metrics.loss.last": {"$lt": 0.06}}, {"metrics.val.acc.last": {"$gt": 0.92}}]},
        {"a", "b"},
    ),
    (
        {
            "$and": [
                {"metrics.loss.count": {"$gte": 2}},
                {"metrics.val.acc.last": {"$exists": False}},
            ]
        },
        {"c"},
    ),
]


def fill(store: Protocol) -> None:
    """Trials a-f of project ``p`` with the series of ``TRIALS``, one batch at a time."""
    store.new_project(Project(name="p"))
    seq = 0
    for name, (lr, batches) in TRIALS.items():
        trial = store.new_trial(Trial(name=name, parameters={"lr": lr}, project_id="p"))
        assert trial is not None
        for batch in batches:
            seq += 1
            points = [(metric, step, value, 1000.0 + seq) for metric, step, value in batch]
            store.log_trial_batch(trial, TrialBatch(writer="w", seq=seq, metrics=points))
    store.commit()


@pytest.fixture
def store(store_uri: str) -> Iterator[Protocol]:
    """The store behind ``store_uri`` holding trials a-f, closed afterwards."""
    protocol = get_protocol(store_uri)
    fill(protocol)
    yield protocol
    protocol.close()


def names(trials: list[Trial]) -> set[str]:
    """The names of a list of trials."""
    return {t.name for t in trials if t.name is not None}


def test_every_metric_query_selects_the_same_trials(store: Protocol) -> None:
    """Each query of the table selects exactly its trials on this store (light and full reads,
    summaries), and fetch_and_update_trial reserves a trial by a metric summary."""
    for query, expected in QUERIES:
        assert names(store.fetch_trials(query, with_metrics=False)) == expected, query
    query, expected = QUERIES[0]
    assert names(store.fetch_trials(query)) == expected
    assert {t.name for t, _ in store.fetch_summaries(query)} == expected
    picked = store.fetch_and_update_trial(
        {"metrics.val.acc.last": {"$gt": 0.92}},
        "set_trial_status",
        status=CustomStatus("reserved", 1),
    )
    assert picked is not None and picked.name == "b"
    assert names(store.fetch_trials({"status": "reserved"})) == {"b"}


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"metrics.loss": 1}, "metrics.<name>.<summary>"),
        ({"metrics.val.acc": {"$gt": 1}}, "metrics.<name>.<summary>"),
        ({"metrics": {"$exists": True}}, "metrics.<name>.<summary>"),
        ({"metrics..last": 1}, "metrics.<name>.<summary>"),
        ({"metrics.loss.last": {"$regex": "^1"}}, "is a number"),
    ],
)
def test_bad_metric_paths_are_refused(query: dict[str, Any], reason: str) -> None:
    """A metric path without a summary, or a $regex on one, raises a QueryError saying why."""
    with pytest.raises(QueryError, match=reason.replace(".", r"\.")):
        parse(query)


def test_metric_name_is_all_but_the_last_segment() -> None:
    """The last segment is the summary; the name keeps its dots and slashes."""
    (condition,) = parse({"metrics.val.acc/top1.max": {"$gt": 0.5}})
    assert condition.path == ("metrics", "val.acc/top1", "max")


def test_ls_and_runs_filter_by_metric_summary(tmp_path: Any) -> None:
    """``track ls --where`` (short and JSON forms) and ``track.runs(where=...)`` on SQLite."""
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    protocol = get_protocol(uri)
    fill(protocol)
    protocol.close()
    command = [sys.executable, "-m", "track.cli", "ls", "--store", uri, "--where"]
    for where in ("metrics.loss.last<0.1", '{"metrics.loss.last": {"$lt": 0.1}}'):
        done = subprocess.run([*command, where], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        rows = csv.DictReader(io.StringIO(done.stdout), delimiter="\t")
        assert {row["name"] for row in rows} == {"a", "c"}
    require("pandas")
    frame = track.runs(uri, where={"metrics.val.acc.max": {"$gte": 0.9}})
    assert set(frame["name"]) == {"a", "b"}
