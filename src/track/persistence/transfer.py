"""Copy a store into another, merging what both hold: ``file://`` to ``sqlite://`` to ``postgresql://``.

Projects, groups and trials are copied with everything they hold: every metric point with its
step and time, status, errors, chronos, tags, metadata, parameters and group memberships.
A trial the destination already holds (same uid) is *merged*: what the destination lacks is
added, nothing is duplicated, and running the same copy again changes nothing. That is how a
cluster without network access syncs its offline store to the lab's central one, again and
again as its runs resume.

The merge rules (SRC is the source, DST the destination):

* points: per series, a multiset of ``(step, value, time)``. SRC points that DST lacks are
  appended (a point SRC holds three times and DST once is appended twice); DST points SRC
  lacks are kept.
* metadata, tags, chronos, parameters, group metadata: keys DST lacks *or whose value differs*
  are set from SRC (SRC wins); keys only DST has are kept.
* status: SRC's, when it differs (SRC wins; both as they read, a stale Running trial reads
  Interrupted).
* errors: a multiset too; SRC errors DST lacks are appended.
* group memberships and the trial's project: added when DST lacks them.
* artifacts: each SRC artifact DST lacks under its name with the same sha256 is streamed into
  DST (chunk by chunk, never whole in memory); one DST holds under the name with other bytes is
  replaced (SRC wins); artifacts only DST has are kept. A SRC artifact whose bytes fail their
  digest is not copied (a warning says so).

Differences the store interface cannot write (a project's metadata or description, a group's
or trial's description, a trial's primary group) are left as DST has them and reported as
warnings. Only :class:`~track.persistence.protocol.Protocol` calls are used, so every store
works, a track server included. The difference is computed from what both stores hold, so a
re-run is idempotent by construction; the batches also carry a writer id unique to the run and
increasing sequence numbers, so a batch a server client resends is applied once. A trial's
series are loaded one trial at a time, so a large store is never held in memory whole.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, cast

from track.persistence import get_protocol
from track.persistence.artifacts import (
    ArtifactInfo,
    ArtifactNotFound,
    ArtifactsUnsupported,
    ChunkReader,
    CorruptArtifact,
)
from track.persistence.protocol import Protocol, TrialBatch, TrialNotFound, WriteRefused
from track.persistence.utils import URI
from track.serialization import status_to_doc
from track.structure import Project, Trial, TrialGroup

__all__ = ["CopyReport", "copy_store", "missing_points", "same", "split_series"]

log = logging.getLogger(__name__)

#: most metric points written in one batch (one transaction, one server request)
BATCH_POINTS = 50_000
#: trials looked up in the destination per query
LOOKUP_CHUNK = 200
_NAN = ("NaN",)


@dataclass
class CopyReport:
    """What :func:`copy_store` did (or, with ``dry_run``, would do).

    ``created``/``created_points``: trials the destination did not have and their points;
    ``merged``/``merged_points``: trials it had, to which something was added, and the points
    added; ``unchanged``: trials it already held whole. ``artifacts``/``artifact_bytes``:
    artifacts streamed into the destination and their size; ``unchanged_artifacts``: those it
    already held (same name and sha256). ``changes`` has one line per created project or
    group, updated group, created or merged trial and copied artifact; ``warnings`` lists the
    differences the copy could not write.
    """

    projects: int = 0
    groups: int = 0
    updated_groups: int = 0
    created: int = 0
    created_points: int = 0
    merged: int = 0
    merged_points: int = 0
    unchanged: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    unchanged_artifacts: int = 0
    dry_run: bool = False
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line saying what was (or, in a dry run, would be) copied."""
        verbs = (
            ("to create", "to merge", "to update")
            if self.dry_run
            else ("created", "merged", "updated")
        )
        made, merged, updated = verbs
        text = (
            f"projects: {self.projects} {made}; groups: {self.groups} {made}, "
            f"{self.updated_groups} {updated}; trials: {self.created} {made} "
            f"({self.created_points} points), {self.merged} {merged} "
            f"(+{self.merged_points} points), {self.unchanged} unchanged; artifacts: "
            f"{self.artifacts} {'to copy' if self.dry_run else 'copied'} "
            f"({self.artifact_bytes} bytes), {self.unchanged_artifacts} unchanged"
        )
        return f"dry run, nothing written; {text}" if self.dry_run else text


def _open(store: str | URI | Protocol) -> tuple[Protocol, bool]:
    if isinstance(store, Protocol):
        return store, False
    return get_protocol(store), True


def copy_store(
    source: str | URI | Protocol,
    destination: str | URI | Protocol,
    dry_run: bool = False,
    batch_points: int = BATCH_POINTS,
    on_progress: Callable[[int, int], None] | None = None,
) -> CopyReport:
    """Copy every project, group and trial of ``source`` into ``destination``, merging.

    With ``dry_run`` nothing is written: the report says what would be. ``batch_points``
    bounds the points written per batch (a server refuses frames above ``max_frame``).
    ``on_progress(trials done, trials in all)`` is called after each trial (and its
    artifacts, streamed from SRC into DST).
    """
    if batch_points < 1:
        raise ValueError(f"batch_points must be at least 1, not {batch_points}")
    src, close_src = _open(source)
    try:
        dst, close_dst = _open(destination)
        try:
            report = _Copy(src, dst, dry_run, batch_points).run(on_progress)
            if not dry_run:
                dst.commit()
            return report
        finally:
            if close_dst:
                dst.close()
    finally:
        if close_src:
            src.close()


# ---- comparing values -------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equality of JSON-like values as two stores return them: NaN equals NaN, 1 equals 1.0.

    A bool equals only a bool (``True`` is not ``1``); lists and tuples compare alike.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b or (_is_nan(a) and _is_nan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _key(value: Any) -> Any:
    return _NAN if _is_nan(value) else value


def point_key(point: Any) -> tuple[Any, Any, Any]:
    """The identity of a metric point: ``(step, value, time)``, with every NaN alike."""
    step, value, when = point
    return _key(step), _key(value), _key(when)


def missing_points(src: list[Any], dst: list[Any]) -> list[tuple[Any, Any, Any]]:
    """SRC points DST lacks, in SRC's order, counting repeats (multiset difference)."""
    held = Counter(point_key(p) for p in dst)
    missing = []
    for point in src:
        key = point_key(point)
        if held[key] > 0:
            held[key] -= 1
        else:
            missing.append(tuple(point))
    return missing


def _changed_keys(src: dict[str, Any], dst: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in src.items() if k not in dst or not same(v, dst[k])}


def _status_label(status: Any) -> str:
    return "-" if status is None else str(status.name)


def _same_status(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return bool(a.name == b.name and a.value == b.value)


def _memberships(trial: Trial) -> set[str]:
    groups = set(trial.groups)
    if trial.group_id is not None:
        groups.add(trial.group_id)
    return groups


# ---- the difference of one trial --------------------------------------------------------


@dataclass
class _TrialDiff:
    """What DST lacks of one SRC trial, and what the copy cannot write."""

    series: dict[str, list[tuple[Any, Any, Any]]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    chronos: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    status: Any = None
    old_status: Any = None
    errors: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    project: str | None = None
    warnings: list[str] = field(default_factory=list)

    def point_count(self) -> int:
        """How many points DST lacks."""
        return sum(len(points) for points in self.series.values())

    def is_empty(self) -> bool:
        """True when DST holds the whole SRC trial."""
        return not (
            self.series
            or self.metadata
            or self.tags
            or self.chronos
            or self.parameters
            or self.status is not None
            or self.errors
            or self.groups
            or self.project
        )

    def describe(self) -> str:
        """What would be added, for people (``+12 points; tags resumed; ...``)."""
        parts = [f"+{self.point_count()} points"] if self.series else []
        for name in ("parameters", "metadata", "tags", "chronos"):
            keys = getattr(self, name)
            if keys:
                parts.append(f"{name} {', '.join(sorted(keys))}")
        if self.status is not None:
            parts.append(f"status {_status_label(self.old_status)} -> {_status_label(self.status)}")
        if self.errors:
            parts.append(f"+{len(self.errors)} errors")
        if self.groups:
            parts.append(f"groups {', '.join(sorted(self.groups))}")
        if self.project:
            parts.append(f"project {self.project}")
        return "; ".join(parts)


def _trial_diff(
    src: Trial,
    src_metrics: dict[str, list[Any]],
    dst: Trial,
    dst_metrics: dict[str, list[Any]],
    groups: dict[str, TrialGroup],
    projects: dict[str, Project],
) -> _TrialDiff:
    """What DST (the stored ``dst`` and its series) lacks of SRC's trial.

    ``groups`` and ``projects`` are the uids DST holds: a membership of a group or project
    that exists in neither store cannot be written, and is reported instead.
    """
    diff = _TrialDiff()
    for name, points in src_metrics.items():
        missing = missing_points(points, dst_metrics.get(name, []))
        if missing:
            diff.series[name] = missing
    diff.metadata = _changed_keys(src.metadata, dst.metadata)
    diff.tags = _changed_keys(src.tags, dst.tags)
    diff.chronos = _changed_keys(src.chronos, dst.chronos)
    diff.parameters = _changed_keys(src.parameters, dst.parameters)
    if not _same_status(src.status, dst.status):
        if src.status is None:
            diff.warnings.append(f"trial {src.uid}: SRC has no status, DST keeps {dst.status}")
        else:
            diff.status, diff.old_status = src.status, dst.status
    held = Counter(dst.errors)
    for error in src.errors:
        if held[error] > 0:
            held[error] -= 1
        else:
            diff.errors.append(error)
    for group in sorted(_memberships(src) - _memberships(dst)):
        if group in groups:
            diff.groups.append(group)
        else:
            diff.warnings.append(f"trial {src.uid}: group {group} is in neither store, not added")
    if src.project_id is not None and src.project_id != dst.project_id:
        if src.project_id in projects:
            diff.project = src.project_id
        else:
            diff.warnings.append(
                f"trial {src.uid}: project {src.project_id} is in neither store, not set"
            )
    if src.group_id is not None and dst.group_id is not None and src.group_id != dst.group_id:
        diff.warnings.append(
            f"trial {src.uid}: primary group differs (SRC {src.group_id}, DST {dst.group_id});"
            " DST keeps its own (the membership is added)"
        )
    if (src.description or None) != (dst.description or None):
        diff.warnings.append(f"trial {src.uid}: description differs; DST keeps its own")
    return diff


# ---- the copy ---------------------------------------------------------------------------


class _Copy:
    """One run of :func:`copy_store`: the stores, the report and the batch numbering."""

    def __init__(self, src: Protocol, dst: Protocol, dry_run: bool, batch_points: int) -> None:
        self.src = src
        self.dst = dst
        self.dry_run = dry_run
        self.batch_points = batch_points
        self.report = CopyReport(dry_run=dry_run)
        self.writer = f"track-copy-{uuid.uuid4().hex}"
        self.seq = 0
        #: what DST holds (or, once copied, will hold), by uid
        self.projects: dict[str, Project] = {}
        self.groups: dict[str, TrialGroup] = {}
        #: False once SRC or DST turned out to keep no artifacts
        self.artifacts = True

    def run(self, on_progress: Callable[[int, int], None] | None = None) -> CopyReport:
        """Projects, then groups, then trials (looked up in DST a chunk at a time)."""
        self._copy_projects()
        self._copy_groups()
        trials = self.src.fetch_trials(None, with_metrics=False)
        for start in range(0, len(trials), LOOKUP_CHUNK):
            chunk = trials[start : start + LOOKUP_CHUNK]
            query = {"uid": {"$in": [t.uid for t in chunk]}}
            held = {t.uid: t for t in self.dst.fetch_trials(query, with_metrics=False)}
            for done, trial in enumerate(chunk, start + 1):
                self._copy_trial(trial, held.get(trial.uid))
                self._copy_artifacts(trial)
                if on_progress is not None:
                    on_progress(done, len(trials))
        return self.report

    def _warn(self, message: str) -> None:
        log.warning(message)
        self.report.warnings.append(message)

    def _change(self, line: str) -> None:
        self.report.changes.append(("would " if self.dry_run else "") + line)

    def _copy_projects(self) -> None:
        held = {p.uid: p for p in self.dst.fetch_projects(None)}
        self.projects = dict(held)
        for project in self.src.fetch_projects(None):
            there = held.get(project.uid)
            if there is None:
                bare = Project(
                    _uid=project.uid,
                    name=project.name,
                    description=project.description,
                    metadata=project.metadata,
                    tags=project.tags,
                )
                if self.dry_run or self.dst.new_project(bare) is not None:
                    self.report.projects += 1
                    self._change(f"create project {project.uid}")
                self.projects[project.uid] = bare
                continue
            differing = sorted(_changed_keys(project.metadata, there.metadata))
            if differing:
                self._warn(
                    f"project {project.uid}: metadata {', '.join(differing)} differ; DST keeps"
                    " its own (the store interface cannot update a project's metadata)"
                )
            if (project.description or None) != (there.description or None):
                self._warn(f"project {project.uid}: description differs; DST keeps its own")

    def _copy_groups(self) -> None:
        held = {g.uid: g for g in self.dst.fetch_groups(None)}
        self.groups = dict(held)
        for group in self.src.fetch_groups(None):
            there = held.get(group.uid)
            if there is None:
                bare = TrialGroup(
                    _uid=group.uid,
                    name=group.name,
                    description=group.description,
                    metadata=group.metadata,
                    project_id=group.project_id,
                    tags=group.tags,
                )
                if self.dry_run or self.dst.new_trial_group(bare) is not None:
                    self.report.groups += 1
                    self._change(f"create group {group.uid} ({group.name})")
                self.groups[group.uid] = bare
                continue
            changed = _changed_keys(group.metadata, there.metadata)
            if changed:
                if not self.dry_run:
                    self.dst.set_group_metadata(there, **changed)
                self.report.updated_groups += 1
                self._change(f"update group {group.uid}: metadata {', '.join(sorted(changed))}")
            if (group.description or None) != (there.description or None):
                self._warn(f"group {group.uid}: description differs; DST keeps its own")

    def _copy_trial(self, trial: Trial, there: Trial | None) -> None:
        metrics = self.src.get_trial_metrics(trial)
        if there is None:
            count = sum(len(points) for points in metrics.values())
            if self.dry_run:
                self._created(trial, count)
                return
            inline = count <= self.batch_points
            if self.dst.new_trial(replace(trial, metrics=metrics if inline else {})) is not None:
                self._created(trial, count)
                if not inline:
                    self._write(trial, _TrialDiff(series=_as_points(metrics)))
                return
            found = self.dst.fetch_trials({"uid": trial.uid}, with_metrics=False)
            if not found:
                raise WriteRefused(f"DST refused trial {trial.uid} and does not hold it either")
            there = found[0]
        diff = _trial_diff(
            trial,
            metrics,
            there,
            self.dst.get_trial_metrics(there),
            self.groups,
            self.projects,
        )
        for warning in diff.warnings:
            self._warn(warning)
        if diff.is_empty():
            self.report.unchanged += 1
            return
        if not self.dry_run:
            self._apply(there, diff)
        self.report.merged += 1
        self.report.merged_points += diff.point_count()
        self._change(f"merge into trial {trial.uid}: {diff.describe()}")

    def _copy_artifacts(self, trial: Trial) -> None:
        """Stream each SRC artifact DST lacks (same name and sha256) into DST."""
        if not self.artifacts:
            return
        try:
            entries = self.src.list_artifacts(trial)
        except ArtifactsUnsupported:
            self.artifacts = False  # SRC keeps none
            return
        if not entries:
            return
        try:
            held = {info.name: info for info in self.dst.list_artifacts(trial)}
        except TrialNotFound:  # a dry run's trial to create
            held = {}
        except ArtifactsUnsupported as error:
            if not self.dry_run:  # a dry run into a store still to create cannot tell
                self._refuse_artifacts(error)
                return
            held = {}
        for info in entries:
            there = held.get(info.name)
            if there is not None and there.sha256 == info.sha256:
                self.report.unchanged_artifacts += 1
            elif self.dry_run or self._put(trial, info):
                self.report.artifacts += 1
                self.report.artifact_bytes += info.size
                self._change(
                    f"copy artifact {info.name!r} of trial {trial.uid} ({info.size} bytes)"
                )
            if not self.artifacts:
                return

    def _put(self, trial: Trial, info: ArtifactInfo) -> bool:
        """Stream one artifact from SRC into DST; False (and a warning) if it was not copied."""
        try:
            reader = ChunkReader(self.src.open_artifact(trial, info.name))
            with reader:
                self.dst.put_artifact(trial, info.name, cast("BinaryIO", reader), info.media_type)
        except (CorruptArtifact, ArtifactNotFound) as error:
            self._warn(f"trial {trial.uid}: artifact {info.name!r} not copied: {error}")
            return False
        except ArtifactsUnsupported as error:
            self._refuse_artifacts(error)
            return False
        return True

    def _refuse_artifacts(self, error: ArtifactsUnsupported) -> None:
        """DST keeps no artifacts: say so once, and copy none."""
        self.artifacts = False
        self._warn(f"DST keeps no artifacts, none are copied: {error}")

    def _created(self, trial: Trial, count: int) -> None:
        self.report.created += 1
        self.report.created_points += count
        self._change(f"create trial {trial.uid} ({count} points)")

    def _apply(self, trial: Trial, diff: _TrialDiff) -> None:
        if diff.parameters:
            self.dst.log_trial_arguments(trial, **diff.parameters)
        if diff.project:
            self.dst.add_project_trial(self.projects[diff.project], trial)
        for group in diff.groups:
            self.dst.add_group_trial(self.groups[group], trial)
        self._write(trial, diff)

    def _write(self, trial: Trial, diff: _TrialDiff) -> None:
        """Write the diff's points, metadata, tags, chronos, status and errors as batches.

        Points go in batches of at most ``batch_points``; the last batch also carries the
        rest, so a status change lands after the points it summarizes.
        """
        batches = list(split_series(diff.series, self.batch_points)) or [{}]
        for i, series in enumerate(batches):
            self.seq += 1
            batch = TrialBatch(writer=self.writer, seq=self.seq, series=series)
            if i == len(batches) - 1:
                batch.metadata = diff.metadata
                batch.tags = diff.tags
                batch.chronos = diff.chronos
                batch.status = status_to_doc(diff.status)
                batch.errors = diff.errors
            if not batch.is_empty():
                self.dst.log_trial_batch(trial, batch)


def _as_points(metrics: dict[str, list[Any]]) -> dict[str, list[tuple[Any, Any, Any]]]:
    return {name: [tuple(p) for p in points] for name, points in metrics.items() if points}


def split_series(
    series: dict[str, list[tuple[Any, Any, Any]]], size: int
) -> Iterator[dict[str, list[tuple[Any, Any, Any]]]]:
    """The series cut into dicts of at most ``size`` points, each series' order kept."""
    batch: dict[str, list[tuple[Any, Any, Any]]] = {}
    room = size
    for name, points in series.items():
        start = 0
        while start < len(points):
            taken = points[start : start + room]
            batch.setdefault(name, []).extend(taken)
            start += len(taken)
            room -= len(taken)
            if room == 0:
                yield batch
                batch, room = {}, size
    if batch:
        yield batch
