"""Write runs read from another tracker into a track store: the logic every importer shares.

An importer (:mod:`track.importing.mlflow`, ``.tensorboard``, ``.wandb``) turns each run of its
source into a :class:`SourceRun`; :func:`import_runs` writes them, one track trial per run.

Identity and idempotency: a run's trial hash is computed from the source's name and the run's
key in that source (an MLflow run id, a wandb ``project/run id``, a TensorBoard run folder and
its first event file), never from its parameters: two runs with the same parameters stay two
trials, and importing the same run again finds the same uid. The trial is then *merged*, as
``track copy`` merges: points the store lacks are appended (a run that went on since the last
import gets its new points), tags, metadata and parameters it lacks or holds with another value
are set, the status follows the source; nothing is duplicated, and a second import of an
unchanged run changes nothing. Points go through ``Protocol.log_trial_batch`` (or inline in
``new_trial``) in batches of at most ``batch_points``, so every store kind works, a track server
included.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from track.errors import ConfigurationError
from track.persistence.protocol import Point, Protocol, TrialBatch
from track.persistence.transfer import missing_points, same, split_series
from track.serialization import jsonable_dict, status_to_doc
from track.structure import AnyStatus, Project, Trial, TrialGroup
from track.versioning import compute_hash

__all__ = [
    "BATCH_POINTS",
    "ImportReport",
    "SourceError",
    "SourceRun",
    "import_runs",
]

#: most metric points per batch (one transaction, one server request)
BATCH_POINTS = 50_000
#: the metadata key recording where an imported trial comes from
IMPORTED_FROM = "imported_from"


class SourceError(ConfigurationError):
    """The other tracker's reader refused the location given (not its format, unreadable...)."""


@dataclass
class SourceRun:
    """One run read from another tracker, as a track trial will hold it.

    ``key`` identifies the run within ``source`` (it makes the trial's identity); ``project``
    and ``group`` are where the source filed it (``project`` is used unless the caller gives
    one); ``series`` maps a metric name to its ``(step, value, wall time)`` points.
    """

    source: str
    key: str
    name: str | None
    project: str
    group: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    status: AnyStatus | None = None
    series: dict[str, list[Point]] = field(default_factory=dict)

    def trial_hash(self) -> str:
        """The hash of this run's trial: the source and the run's key, parameters left out."""
        return compute_hash(imported_from=self.source, run=self.key)

    def point_count(self) -> int:
        """How many metric points the run holds."""
        return sum(len(points) for points in self.series.values())


@dataclass
class ImportReport:
    """What :func:`import_runs` did: trials created, merged (and the points added), unchanged."""

    created: int = 0
    merged: int = 0
    unchanged: int = 0
    points: int = 0
    lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        return (
            f"trials: {self.created} created, {self.merged} merged, {self.unchanged} unchanged; "
            f"{self.points} points written"
        )


def import_runs(
    runs: Iterable[SourceRun],
    store: Protocol,
    project: str | None = None,
    batch_points: int = BATCH_POINTS,
    on_run: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write every run of ``runs`` into ``store`` (one trial each), merging those it holds.

    ``project`` overrides each run's own project. Runs are consumed one at a time, so an
    importer that reads lazily keeps one run in memory. ``on_run(runs done)`` is called after
    each run.
    """
    if batch_points < 1:
        raise ValueError(f"batch_points must be at least 1, not {batch_points}")
    writer = _Writer(store, project, batch_points)
    for done, run in enumerate(runs, 1):
        writer.write(run)
        if on_run is not None:
            on_run(done)
    store.commit()
    return writer.report


class _Writer:
    """One :func:`import_runs` call: the store, the projects and groups ensured, the report."""

    def __init__(self, store: Protocol, project: str | None, batch_points: int) -> None:
        self.store = store
        self.project = project
        self.batch_points = batch_points
        self.report = ImportReport()
        self.writer = f"track-import-{uuid.uuid4().hex}"
        self.seq = 0
        self.ensured: set[str] = set()

    def write(self, run: SourceRun) -> None:
        """Create or merge the trial of ``run``."""
        trial = self._trial(run)
        held = self.store.fetch_trials({"uid": trial.uid}, with_metrics=False)
        if not held:
            count = run.point_count()
            inline = count <= self.batch_points
            series = {name: [list(p) for p in points] for name, points in run.series.items()}
            if self.store.new_trial(replace(trial, metrics=series if inline else {})) is not None:
                if not inline:
                    self._write_points(trial, run.series)
                self.report.created += 1
                self.report.points += count
                self.report.lines.append(f"created {trial.uid} ({run.name}, {count} points)")
                return
            held = self.store.fetch_trials({"uid": trial.uid}, with_metrics=False)
        self._merge(run, trial, held[0])

    def _trial(self, run: SourceRun) -> Trial:
        project = self._ensure_project(self.project or run.project)
        group = self._ensure_group(run.group, project) if run.group else None
        metadata = {**run.metadata, IMPORTED_FROM: {"source": run.source, "run": run.key}}
        return Trial(
            _hash=run.trial_hash(),
            name=run.name,
            tags=jsonable_dict(run.tags),
            project_id=project,
            group_id=group,
            groups={group} if group else set(),
            parameters=jsonable_dict(run.parameters),
            metadata=jsonable_dict(metadata),
            status=run.status,
        )

    def _ensure_project(self, name: str) -> str:
        project = Project(name=name)
        if project.uid not in self.ensured:
            self.store.new_project(project)
            self.ensured.add(project.uid)
        return project.uid

    def _ensure_group(self, name: str, project: str) -> str:
        group = TrialGroup(name=name, project_id=project)
        if group.uid not in self.ensured:
            self.store.new_trial_group(group)
            self.ensured.add(group.uid)
        return group.uid

    def _merge(self, run: SourceRun, trial: Trial, there: Trial) -> None:
        """Add to the stored ``there`` what it lacks of ``trial`` and ``run``'s points."""
        held = self.store.get_trial_metrics(there)
        series = {}
        for name, points in run.series.items():
            missing = missing_points(points, held.get(name, []))
            if missing:
                series[name] = missing
        parameters = _changed(trial.parameters, there.parameters)
        tags = _changed(trial.tags, there.tags)
        metadata = _changed(trial.metadata, there.metadata)
        status = trial.status
        if status is None or (
            there.status is not None
            and there.status.name == status.name
            and there.status.value == status.value
        ):
            status = None
        if not (series or parameters or tags or metadata or status is not None):
            self.report.unchanged += 1
            return
        if parameters:
            self.store.log_trial_arguments(there, **parameters)
        self._write_points(there, series, tags=tags, metadata=metadata, status=status)
        count = sum(len(points) for points in series.values())
        self.report.merged += 1
        self.report.points += count
        self.report.lines.append(f"merged into {there.uid} ({run.name}, +{count} points)")

    def _write_points(
        self,
        trial: Trial,
        series: dict[str, list[Point]],
        tags: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        status: AnyStatus | None = None,
    ) -> None:
        """Write ``series`` in batches; the last one also carries tags, metadata and status."""
        batches = list(split_series(series, self.batch_points)) or [{}]
        for i, chunk in enumerate(batches):
            self.seq += 1
            batch = TrialBatch(writer=self.writer, seq=self.seq, series=chunk)
            if i == len(batches) - 1:
                batch.tags = tags or {}
                batch.metadata = metadata or {}
                batch.status = status_to_doc(status)
            if not batch.is_empty():
                self.store.log_trial_batch(trial, batch)


def _changed(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in new.items() if k not in old or not same(v, old[k])}
