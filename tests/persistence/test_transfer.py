"""copy_store: file:// -> sqlite:// -> postgresql:// -> file:// loses nothing."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

from track.persistence import get_protocol
from track.persistence.protocol import Protocol, TrialBatch
from track.persistence.transfer import copy_store
from track.serialization import group_to_doc, project_to_doc, trial_to_doc
from track.structure import Project, Status, Trial, TrialGroup

ODD = "'); DROP TABLE trials; -- λ"


def fill(store: Protocol) -> None:
    """Two projects, groups, trials with every kind of content and step."""
    for project_name in ("p1", ODD):
        project = Project(name=project_name, description="d", metadata={"owner": ODD})
        store.new_project(project)
        g1 = TrialGroup(name="g1", project_id=project.uid, metadata={"k": [1, 2]})
        g2 = TrialGroup(name="g2", project_id=project.uid)
        store.new_trial_group(g1)
        store.new_trial_group(g2)
        for i in range(3):
            trial = Trial(
                name=f"t{i}",
                parameters={"i": i, "p": project_name, "odd": ODD, "nested": {"x": [1.5, None]}},
                project_id=project.uid,
                group_id=g1.uid,
                tags={"hpo": ODD},
            )
            store.new_trial(trial)
            store.add_group_trial(g2, trial)
            points = [("loss", s, 1.0 / (s + 1), 100.0 + s) for s in range(20)]
            points += [("acc", None, 0.5, 1.0), ("lr", 0.5, 1e-3, 2.0), (ODD, "e1", 7, 3.0)]
            points += [("nan", 1, math.inf, 4.0)]
            batch = TrialBatch(
                metrics=points,
                metadata={"gpu": "V100", "inf": -math.inf},
                chronos={"batch": {"avg": 0.1, "count": 3}},
                status={"name": "Completed", "value": 302},
                errors=["first", ODD],
            )
            store.log_trial_batch(trial, batch)
        store.set_trial_status(Trial(name="t2", parameters=trial.parameters), Status.Broken)


def snapshot(store: Protocol) -> dict[str, Any]:
    """Everything a store holds, as comparable documents."""
    trials = {}
    for trial in store.fetch_trials(None):
        doc = trial_to_doc(trial)
        doc["groups"] = sorted(doc["groups"])
        trials[trial.uid] = doc
    return {
        "projects": sorted((project_to_doc(p) for p in store.fetch_projects(None)), key=repr),
        "groups": sorted((group_to_doc(g) for g in store.fetch_groups(None)), key=repr),
        "trials": trials,
    }


def test_copy_round_trip_loses_nothing(tmp_path: Path, fresh_postgres) -> None:
    """A store copied file -> sqlite -> postgresql -> file is identical at every stage."""
    first = f"file://{tmp_path / 'first.json'}"
    store = get_protocol(first)
    fill(store)
    expected = snapshot(store)
    store.close()
    assert len(expected["trials"]) == 6
    with fresh_postgres() as postgres:
        chain = [
            first,
            f"sqlite:///{tmp_path / 'copy.db'}",
            postgres,
            f"file://{tmp_path / 'last.json'}",
        ]
        for source, destination in itertools.pairwise(chain):
            report = copy_store(source, destination)
            assert (report.projects, report.groups, report.trials) == (2, 4, 6)
            copied = get_protocol(destination)
            assert snapshot(copied) == expected, destination
            copied.close()


def test_copy_again_skips_what_is_there(tmp_path: Path) -> None:
    """Copying into a store that already holds the trials adds nothing."""
    source = get_protocol("ephemeral:")
    fill(source)
    destination = get_protocol(f"sqlite:///{tmp_path / 'twice.db'}")
    assert copy_store(source, destination).trials == 6
    again = copy_store(source, destination)
    assert (again.trials, again.skipped) == (0, 6)
    assert snapshot(destination) == snapshot(source)
