"""The query language evaluated on trial documents: operators, logic, paths, status, groups."""

from __future__ import annotations

from typing import Any

import pytest

from track.query import QueryError, matches, parse
from track.serialization import trial_to_doc
from track.structure import CustomStatus, Status, Trial

TRIALS = {
    "a": Trial(
        name="a",
        parameters={"lr": 0.1, "opt": {"name": "sgd"}},
        tags={"hpo": "grid"},
        status=Status.Completed,
        groups={"g1", "g2"},
        group_id="g1",
    ),
    "b": Trial(
        name="b",
        parameters={"lr": 0.01, "opt": {"name": "adam"}},
        status=Status.Interrupted,
        groups={"g2"},
        group_id="g2",
    ),
    "c": Trial(
        name="c",
        parameters={"lr": 0.001},
        metadata={"gpu": "V100"},
        status=CustomStatus("reserved", 1),
    ),
}
DOCS = {name: trial_to_doc(trial) for name, trial in TRIALS.items()}


def names(query: dict[str, Any] | None) -> list[str]:
    """The names of the trials a query selects, sorted."""
    conditions = parse(query)
    return sorted(name for name, doc in DOCS.items() if matches(doc, conditions))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (None, ["a", "b", "c"]),
        ({}, ["a", "b", "c"]),
        ({"name": "a"}, ["a"]),
        ({"name": {"$eq": "b"}}, ["b"]),
        ({"name": {"$ne": "b"}}, ["a", "c"]),
        ({"parameters.lr": {"$gt": 0.01}}, ["a"]),
        ({"parameters.lr": {"$gte": 0.01}}, ["a", "b"]),
        ({"parameters.lr": {"$lt": 0.01}}, ["c"]),
        ({"parameters.lr": {"$lte": 0.01}}, ["b", "c"]),
        ({"parameters.lr": {"$gt": 0.001, "$lt": 0.1}}, ["b"]),
        ({"name": {"$in": ["a", "c"]}}, ["a", "c"]),
        ({"name": {"$nin": ["a", "c"]}}, ["b"]),
        ({"metadata.gpu": {"$exists": True}}, ["c"]),
        ({"metadata.gpu": {"$exists": False}}, ["a", "b"]),
        ({"parameters.opt.name": {"$regex": "^s"}}, ["a"]),
        ({"parameters.opt.name": {"$regex": "^(sgd|adam)$"}}, ["a", "b"]),
        ({"parameters.opt.name": {"$regex": "[a-d]{2}"}}, ["b"]),
        ({"parameters.opt.name": {"$regex": "(?i)^SG"}}, ["a"]),
        ({"parameters.opt.name": {"$regex": "^SG"}}, []),
        ({"metadata.gpu": {"$regex": r"^V\d+$"}}, ["c"]),
        ({"parameters.lr": {"$regex": "0"}}, []),
        ({"parameters.opt.name": "adam"}, ["b"]),
        ({"tags.hpo": "grid"}, ["a"]),
        ({"parameters.opt.name": {"$ne": "sgd"}}, ["b", "c"]),
        ({"parameters.lr": {"$gt": "text"}}, []),
    ],
)
def test_operators(query: dict[str, Any] | None, expected: list[str]) -> None:
    """Each operator selects the documents it should, on dotted paths too."""
    assert names(query) == expected


def test_and_or() -> None:
    """``$and`` needs every branch, ``$or`` any branch; they nest."""
    assert names({"$or": [{"name": "a"}, {"parameters.lr": {"$lt": 0.01}}]}) == ["a", "c"]
    assert names({"$and": [{"parameters.lr": {"$lt": 0.1}}, {"name": {"$ne": "c"}}]}) == ["b"]
    nested = {"$or": [{"$and": [{"name": "a"}, {"tags.hpo": "grid"}]}, {"name": "b"}]}
    assert names(nested) == ["a", "b"]
    assert names({"$or": []}) == []
    assert names({"$and": []}) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (Status.Completed, ["a"]),
        ("completed", ["a"]),
        ("Interrupted", ["b"]),
        (201, ["b"]),
        ("reserved", ["c"]),
        (CustomStatus("reserved", 1), ["c"]),
        ({"$in": ["completed", Status.Interrupted]}, ["a", "b"]),
        ({"$nin": ["reserved"]}, ["a", "b"]),
        ({"$ne": 302}, ["b", "c"]),
        ({"$gte": 200}, ["a", "b"]),
        ({"$lt": 100}, ["c"]),
        ({"$regex": "^Comp"}, ["a"]),
    ],
)
def test_status_by_name_value_or_object(wanted: Any, expected: list[str]) -> None:
    """``status`` matches a status object, a name in any case, or a value."""
    assert names({"status": wanted}) == expected


@pytest.mark.parametrize("stored", [{}, {"name": None, "value": None}, {"value": 999}])
def test_a_stored_status_that_designates_none_matches_no_status(stored: dict[str, Any]) -> None:
    """A hand-edited document whose status names no status fails its test instead of the query."""
    doc = {**DOCS["a"], "status": stored}
    assert not matches(doc, parse({"status": "completed"}))
    assert not matches(doc, parse({"status": {"$in": ["completed", 999]}}))
    assert matches(doc, parse({"status": {"$ne": "completed"}}))


def test_group_id_matches_any_group_of_a_trial() -> None:
    """``group_id`` matches every group a trial belongs to, not only its first."""
    assert names({"group_id": "g1"}) == ["a"]
    assert names({"group_id": "g2"}) == ["a", "b"]
    assert names({"group_id": {"$in": ["g1", "g9"]}}) == ["a"]
    assert names({"group_id": {"$ne": "g1"}}) == ["b", "c"]
    assert names({"group_id": {"$exists": False}}) == ["c"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"name": {"$like": "a"}}, r"\$like"),
        ({"$nor": [{"name": "a"}]}, r"\$nor"),
        ({"name": {"$regex": "("}}, "bad \\$regex"),
        ({"name": {"$regex": 3}}, "string"),
        ({"name": {"$regex": ["^a"]}}, "string"),
        ({"name": {"$regex": r"(a)\1"}}, r"bad \$regex '\(a\)\\\\1'.*RE2 syntax"),
        ({"name": {"$regex": "(?<=a)b"}}, "RE2 syntax.*lookarounds"),
        ({"name": {"$regex": "a" * 1001}}, "exceeds the limit of 1000 characters"),
        ({"name": {"$in": "abc"}}, "list"),
        ({"name": {"$nin": 3}}, "list"),
        ({"$or": {"name": "a"}}, "list"),
        (["name"], "dict"),
    ],
)
def test_errors(query: Any, message: str) -> None:
    """Malformed queries raise QueryError (a ValueError) saying what is wrong."""
    with pytest.raises(QueryError, match=message):
        parse(query)
    assert issubclass(QueryError, ValueError)


@pytest.mark.parametrize(
    ("alias", "field"),
    [("_uid", "uid"), ("_hash", "hash"), ("_uid.x", "uid.x")],
)
def test_dataclass_field_names_are_aliases(alias: str, field: str) -> None:
    """``_uid``/``_hash`` (the structures' own fields) parse to ``uid``/``hash``, in any branch."""
    assert parse({alias: "v"}) == parse({field: "v"})
    assert parse({"$or": [{alias: {"$in": ["v"]}}]}) == parse({"$or": [{field: {"$in": ["v"]}}]})


def test_uid_and_hash_aliases_select_trials() -> None:
    """A query on ``_uid`` or ``_hash`` finds the trial whose uid or hash it names."""
    assert names({"_uid": TRIALS["b"].uid}) == ["b"]
    assert names({"_hash": TRIALS["c"].hash}) == ["c"]
    assert names({"_uid": {"$ne": TRIALS["b"].uid}}) == ["a", "c"]
