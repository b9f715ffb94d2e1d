"""``execute_query`` and the ``query_*`` helpers decide exactly as every store's queries do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from track.persistence import get_protocol
from track.persistence.local import (
    execute_query,
    query_eq,
    query_exists,
    query_gt,
    query_gte,
    query_in,
    query_lt,
    query_lte,
    query_ne,
    query_nin,
    query_regex,
)
from track.persistence.protocol import Protocol
from track.structure import Project, Status, Trial, TrialGroup

PARAMETERS = [
    {"lr": 0.001, "batch": 32},
    {"lr": 0.01, "batch": 64},
    {"lr": 0.1, "batch": 128},
    {"lr": 1.0, "batch": 32, "arch": "resnet"},
    {"lr": 0.01, "batch": 256, "arch": "convnet"},
]
STATUSES = [Status.Completed, Status.Interrupted, Status.Running, Status.Completed, None]


@pytest.fixture
def populated(store_uri: str) -> Iterator[tuple[Protocol, list[TrialGroup]]]:
    """A store with a project, two groups and five varied trials (one in both groups)."""
    store = get_protocol(store_uri)
    store.new_project(Project(name="p"))
    groups = [TrialGroup(name=n, project_id="p") for n in ("g1", "g2")]
    for group in groups:
        store.new_trial_group(group)
    for index, (parameters, status) in enumerate(zip(PARAMETERS, STATUSES, strict=True)):
        trial = store.new_trial(Trial(name=f"t{index}", parameters=parameters, project_id="p"))
        assert trial is not None
        store.add_group_trial(groups[index % 2], trial)
        if index == 4:
            store.add_group_trial(groups[0], trial)
        if status is not None:
            store.set_trial_status(trial, status)
        if index % 2:
            store.log_trial_metadata(trial, gpu="V100")
        if index < 2:
            store.add_trial_tags(trial, hpo="byopt")
    yield store, groups
    store.close()


def queries(groups: list[TrialGroup], some: Trial) -> list[dict[str, Any] | None]:
    """Queries using every operator of the language, on trials."""
    return [
        None,
        {},
        {"parameters.lr": {"$gt": 0.01}},
        {"parameters.lr": {"$lte": 0.01}},
        {"parameters.lr": {"$gte": 0.01, "$lt": 1.0}},
        {"parameters.batch": {"$in": [32, 64]}},
        {"parameters.batch": {"$nin": [32]}},
        {"parameters.arch": {"$ne": "resnet"}},
        {"parameters.arch": {"$exists": True}},
        {"metadata.gpu": {"$exists": False}},
        {"status": "completed"},
        {"status": {"$ne": Status.Completed}},
        {"status": {"$in": ["Interrupted", "Running"]}},
        {"name": {"$regex": "^t[0-2]$"}},
        {"group_id": groups[0].uid},
        {"group_id": {"$ne": groups[0].uid}},
        {"tags.hpo": "byopt"},
        {"uid": some.uid},
        {"_uid": some.uid},
        {"_hash": {"$ne": some.hash}},
        {"project_id": "p", "parameters.batch": 32},
        {"$or": [{"parameters.lr": 0.1}, {"parameters.batch": 256}]},
        {"$and": [{"parameters.lr": {"$gt": 0.001}}, {"metadata.gpu": "V100"}]},
    ]


def uids(items: list[Any]) -> set[str]:
    """The uids of trials, groups or projects."""
    return {item.uid for item in items}


def test_execute_query_selects_what_the_store_selects(
    populated: tuple[Protocol, list[TrialGroup]],
) -> None:
    """For every query, the trials execute_query accepts are the ones the store returns."""
    store, groups = populated
    trials = store.fetch_trials(None)
    assert len(trials) == 5
    for query in queries(groups, trials[2]):
        expected = uids(store.fetch_trials(query))
        assert uids([t for t in trials if execute_query(t, query)]) == expected, query


def test_execute_query_on_groups_and_projects_matches_the_store(
    populated: tuple[Protocol, list[TrialGroup]],
) -> None:
    """Groups and projects are tested as the store's fetch_groups/fetch_projects test them."""
    store, _ = populated
    all_groups, projects = store.fetch_groups(None), store.fetch_projects(None)
    for query in [{"name": "g1"}, {"project_id": "p"}, {"name": {"$in": ["g2", "x"]}}, {}]:
        expected = uids(store.fetch_groups(query))
        assert uids([g for g in all_groups if execute_query(g, query)]) == expected, query
    for query in [{"name": "p"}, {"name": {"$ne": "p"}}]:
        expected = uids(store.fetch_projects(query))
        assert uids([p for p in projects if execute_query(p, query)]) == expected, query


HELPERS: list[tuple[Callable[..., bool], str, str | list[str], Any]] = [
    (query_eq, "$eq", "parameters.batch", 32),
    (query_ne, "$ne", ["parameters", "arch"], "resnet"),
    (query_gt, "$gt", "parameters.lr", 0.01),
    (query_gte, "$gte", "parameters.lr", 0.01),
    (query_lt, "$lt", ["parameters", "lr"], 0.1),
    (query_lte, "$lte", "parameters.lr", 0.1),
    (query_in, "$in", "parameters.batch", [64, 256]),
    (query_nin, "$nin", "status", ["Completed"]),
    (query_exists, "$exists", "metadata.gpu", True),
    (query_regex, "$regex", "name", "[13]$"),
]


@pytest.mark.parametrize(("helper", "op", "attrs", "value"), HELPERS)
def test_query_helpers_are_one_condition_queries(
    populated: tuple[Protocol, list[TrialGroup]],
    helper: Callable[..., bool],
    op: str,
    attrs: str | list[str],
    value: Any,
) -> None:
    """query_<op>(obj, attrs, value) accepts the trials the store returns for {attrs: {op: value}}."""
    store, _ = populated
    path = attrs if isinstance(attrs, str) else ".".join(attrs)
    expected = uids(store.fetch_trials({path: {op: value}}))
    assert uids([t for t in store.fetch_trials(None) if helper(t, attrs, value)]) == expected


def test_execute_query_refuses_what_is_not_a_structure() -> None:
    """An object that is no project, group, trial or document is refused by name."""
    with pytest.raises(TypeError, match="int"):
        execute_query(3, {"name": "x"})
