"""The short query form and JSON both become the query language, or a clear error."""

from __future__ import annotations

import pytest

from track.cli.shortquery import parse_where
from track.query import QueryError


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
