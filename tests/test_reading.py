"""Reading helpers shared by the CLI and the dashboard: errors on the one hierarchy, short queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from track import errors
from track.persistence import get_protocol
from track.query import QueryError
from track.reading import NoStore, StoreError, find_trial, open_store, parse_where
from track.structure import Project, Trial


def test_a_missing_store_is_a_track_not_found_and_stays_missing(tmp_path: Path) -> None:
    """Opening a file store that does not exist raises NoStore, caught as track's NotFound and
    as a ConfigurationError, and creates no file."""
    path = tmp_path / "missing.json"
    with pytest.raises(NoStore) as raised:
        open_store(f"file://{path}")
    assert isinstance(raised.value, errors.NotFound)
    assert isinstance(raised.value, errors.ConfigurationError)
    assert "missing.json" in str(raised.value)
    assert not path.exists()


def test_an_unknown_uid_is_the_one_not_found(tmp_path: Path) -> None:
    """find_trial raises track.errors.NotFound itself (no second class); an ambiguous prefix is
    a StoreError, which is a ConfigurationError."""
    uri = f"file://{tmp_path / 'store.json'}"
    store = get_protocol(uri)
    project = store.new_project(Project(name="p"))
    for name in ("a", "b"):
        store.new_trial(Trial(name=name, project_id=project.uid))
    store.close()
    store = open_store(uri)
    try:
        with pytest.raises(errors.NotFound, match="no trial 'nope' in this store"):
            find_trial(store, "nope")
        with pytest.raises(StoreError, match="names 2 trials") as raised:
            find_trial(store, "")
        assert isinstance(raised.value, errors.ConfigurationError)
    finally:
        store.close()


def test_short_form_terms() -> None:
    """Each operator, JSON-typed values, lists and regexes map onto query operators."""
    query = parse_where("parameters.lr>0.01 status=completed,running name~^res tags.ok!=true")
    assert query == {
        "parameters.lr": {"$gt": 0.01},
        "status": {"$in": ["completed", "running"]},
        "name": {"$regex": "^res"},
        "tags.ok": {"$ne": True},
    }
    assert parse_where("a>=1 a<=2") == {"a": {"$gte": 1, "$lte": 2}}
    assert parse_where("'name=a b'") == {"name": {"$eq": "a b"}}


def test_json_and_empty() -> None:
    """JSON is taken as is; an empty query selects everything."""
    assert parse_where('{"status": "completed"}') == {"status": "completed"}
    assert parse_where("  ") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr", "bad query term 'lr'"),
        ("lr>", "no value after the operator"),
        ("a>1 a>2", "repeats a condition on a"),
        ("{oops", "not valid JSON"),
        ('{"a": {"$near": 1}}', "unknown operator"),
        ("name='unclosed", "No closing quotation"),
    ],
)
def test_bad_queries(text: str, message: str) -> None:
    """A malformed query raises QueryError with a message naming the problem."""
    with pytest.raises(QueryError, match=message):
        parse_where(text)
