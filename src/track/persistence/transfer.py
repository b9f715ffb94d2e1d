"""Copy a whole store into another: ``file://`` to ``sqlite://`` to ``postgresql://`` and back.

Projects, groups and trials are copied with everything they hold: every metric point with its
step and time, status, errors, chronos, tags, metadata, parameters and group memberships. A
trial's series are loaded one trial at a time, so a large store is never held in memory whole.
Items the destination already holds (same uid) are skipped, so a copy can be run again.
"""

from __future__ import annotations

from dataclasses import dataclass

from track.persistence import get_protocol
from track.persistence.protocol import Protocol
from track.persistence.utils import URI
from track.structure import Project, TrialGroup

__all__ = ["CopyReport", "copy_store"]


@dataclass
class CopyReport:
    """What :func:`copy_store` copied (``skipped``: trials the destination already had)."""

    projects: int = 0
    groups: int = 0
    trials: int = 0
    points: int = 0
    skipped: int = 0


def _open(store: str | URI | Protocol) -> tuple[Protocol, bool]:
    if isinstance(store, Protocol):
        return store, False
    return get_protocol(store), True


def copy_store(source: str | URI | Protocol, destination: str | URI | Protocol) -> CopyReport:
    """Copy every project, group and trial of ``source`` into ``destination``."""
    src, close_src = _open(source)
    try:
        dst, close_dst = _open(destination)
        try:
            report = _copy(src, dst)
            dst.commit()
            return report
        finally:
            if close_dst:
                dst.close()
    finally:
        if close_src:
            src.close()


def _copy(src: Protocol, dst: Protocol) -> CopyReport:
    report = CopyReport()
    for project in src.fetch_projects(None):
        bare = Project(
            _uid=project.uid,
            name=project.name,
            description=project.description,
            metadata=project.metadata,
        )
        report.projects += dst.new_project(bare) is not None
    for group in src.fetch_groups(None):
        bare_group = TrialGroup(
            _uid=group.uid,
            name=group.name,
            description=group.description,
            metadata=group.metadata,
            project_id=group.project_id,
        )
        report.groups += dst.new_trial_group(bare_group) is not None
    for trial in src.fetch_trials(None, with_metrics=False):
        trial.metrics = src.get_trial_metrics(trial)
        if dst.new_trial(trial) is None:
            report.skipped += 1
            continue
        report.trials += 1
        report.points += sum(len(series) for series in trial.metrics.values())
    return report
