"""The storage protocol: what every store (file, SQL, server, your own) implements.

Every write funnels into one batch primitive, :meth:`Protocol.log_trial_batch`, which receives
everything one writer logged to one trial since its last flush. Track's stores implement that
primitive and inherit the per-call methods (``log_trial_metrics``, ``set_trial_status``, ...),
which wrap a single call in a batch. A bring-your-own store may do the opposite: implement the
per-call methods of the seed API and inherit a ``log_trial_batch`` that loops over them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import InitVar, dataclass, field, replace
from typing import Any

from track.aggregators.aggregator import Aggregator, StatAggregator
from track.errors import InvalidValue, TrialNotFound, WriteRefused
from track.persistence.artifacts import ArtifactInfo, ArtifactSource, ArtifactsUnsupported
from track.persistence.chunks import ChunkPreview, SeriesColumns
from track.persistence.utils import URI
from track.serialization import (
    jsonable_dict,
    metric_value,
    status_from_doc,
    status_to_doc,
    step_value,
)
from track.structure import AnyStatus, Project, Status, Trial, TrialGroup

__all__ = [
    "DISPLAY_NAME_KEY",
    "GROUP_UPDATE_METHODS",
    "NOTE_KEY",
    "TRIAL_UPDATE_METHODS",
    "MetricSummary",
    "Protocol",
    "TrialBatch",
    "TrialNotFound",
    "WriteRefused",
    "record_applied",
]

#: Methods ``fetch_and_update_trial`` may apply; anything else is refused (it crosses networks).
TRIAL_UPDATE_METHODS = frozenset(
    {
        "set_trial_status",
        "log_trial_metadata",
        "log_trial_metrics",
        "log_trial_chronos",
        "add_trial_tags",
        "log_trial_arguments",
        "log_trial_start",
        "log_trial_finish",
    }
)
#: Where :meth:`Protocol.set_trial_display` keeps a trial's display name and note.
DISPLAY_NAME_KEY = "display_name"
NOTE_KEY = "note"
#: Methods ``fetch_and_update_group`` may apply.
GROUP_UPDATE_METHODS = frozenset({"set_group_metadata", "add_group_trial"})


def record_applied(ranges: list[list[int]], seq: int) -> bool:
    """Record ``seq`` in a writer's sorted, disjoint ``[first, last]`` ranges of applied seqs.

    Returns False, changing nothing, when ``seq`` was applied already. Sequence numbers are
    kept as ranges rather than a high-water mark, so an older batch that never landed (it was
    refused and spilled) is still applied when replayed; in the usual in-order stream the
    list stays one range long.
    """
    low, high = 0, len(ranges)
    while low < high:
        middle = (low + high) // 2
        if ranges[middle][1] < seq:
            low = middle + 1
        else:
            high = middle
    if low < len(ranges) and ranges[low][0] <= seq:
        return False
    joins_left = low > 0 and ranges[low - 1][1] == seq - 1
    joins_right = low < len(ranges) and ranges[low][0] == seq + 1
    if joins_left and joins_right:
        ranges[low - 1][1] = ranges[low][1]
        del ranges[low]
    elif joins_left:
        ranges[low - 1][1] = seq
    elif joins_right:
        ranges[low][0] = seq
    else:
        ranges.insert(low, [seq, seq])
    return True


#: One metric point of a series: ``(step, value, time)``.
Point = tuple[Any, float, float]
#: One metric of one trial, summarized by :meth:`Protocol.fetch_summaries`:
#: ``[count, min, max]``, NaN points counted but left out of min and max (None when none is left).
MetricSummary = list[Any]


def value_range(points: Sequence[Sequence[Any]]) -> tuple[Any, Any]:
    """The min and max value of ``(step, value, time)`` points, NaN left out (None: no value)."""
    values = [p[1] for p in points if p[1] == p[1]]  # NaN is the one value unequal to itself
    return min(values, default=None), max(values, default=None)


def summarize_points(points: list[list[Any]]) -> MetricSummary:
    """A series' :data:`MetricSummary`: ``[count, min, max]`` of its ``[step, value, time]`` points."""
    return [len(points), *value_range(points)]


@dataclass
class TrialBatch:
    """What one writer logged to one trial since its last flush, in logging order.

    ``writer`` names the process-level pipeline that produced the batch and ``seq`` its
    position in that writer's stream: a store that records the ``seq``s applied per
    writer applies a retried batch at most once. ``series`` maps a metric name to its new
    ``(step, value, time)`` points in logging order (``metrics=[(name, step, value, time)]``
    builds it from flat points); ``status`` is a ``{"name", "value"}`` document; ``errors``
    are appended.
    """

    writer: str = ""
    seq: int = 0
    metrics: InitVar[list[tuple[str, Any, float, float]] | None] = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    chronos: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    series: dict[str, list[Point]] = field(default_factory=dict)

    def __post_init__(self, metrics: list[tuple[str, Any, float, float]] | None) -> None:
        for name, step, value, when in metrics or ():
            points = self.series.get(name)
            if points is None:
                points = self.series[name] = []
            points.append((step, value, when))

    def points(self) -> Iterator[tuple[str, Any, float, float]]:
        """Every point as ``(name, step, value, time)``, series by series."""
        for name, points in self.series.items():
            for step, value, when in points:
                yield name, step, value, when

    def point_count(self) -> int:
        """How many metric points the batch holds."""
        return sum(len(points) for points in self.series.values())

    def is_empty(self) -> bool:
        """True when applying the batch would change nothing."""
        return (
            not (self.series or self.metadata or self.tags or self.chronos or self.errors)
            and self.status is None
        )

    def to_doc(self) -> dict[str, Any]:
        """The batch as a JSON-native document (for the wire and spill files)."""
        return {
            "writer": self.writer,
            "seq": self.seq,
            "series": {name: [list(p) for p in points] for name, points in self.series.items()},
            "metadata": self.metadata,
            "tags": self.tags,
            "chronos": self.chronos,
            "status": self.status,
            "errors": self.errors,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TrialBatch:
        """Rebuild a batch from :meth:`to_doc` output, checking the shape of every point."""
        series: dict[str, list[Point]] = {}
        for name, points in (doc.get("series") or {}).items():
            series[str(name)] = [_checked_point(str(name), point) for point in points]
        return cls(
            writer=str(doc.get("writer") or ""),
            seq=int(doc.get("seq") or 0),
            series=series,
            metadata=dict(doc.get("metadata") or {}),
            tags=dict(doc.get("tags") or {}),
            chronos=dict(doc.get("chronos") or {}),
            status=doc.get("status"),
            errors=[str(e) for e in doc.get("errors") or ()],
        )


def _checked_point(name: str, point: Any) -> Point:
    """A point from the wire or a spill file, with the types a store expects (fast when valid)."""
    step, value, when = point
    if type(value) is not float and type(value) is not int:
        value = metric_value(name, value)
    if step is not None and type(step) is not int:
        step = step_value(step)
    if type(when) is not float:
        when = float(when)
    return step, value, when


def with_display(metadata: dict[str, Any], name: str | None, note: str | None) -> dict[str, Any]:
    """``metadata`` with a display name and note set (None: kept as is, "": removed)."""
    changed = dict(metadata)
    for key, value in ((DISPLAY_NAME_KEY, name), (NOTE_KEY, note)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidValue(f"a trial's {key} must be a string, not {type(value).__name__}")
        if value:
            changed[key] = value
        else:
            changed.pop(key, None)
    return changed


def not_empty(kind: str, uid: str, held: int) -> WriteRefused:
    """The refusal to delete a group or project that still holds trials the caller did not name."""
    return WriteRefused(
        f"{kind} {uid!r} still holds {held} trial(s): delete them first, or pass trials=True "
        f"to delete the {kind} with its trials"
    )


def refuse_aggregator(aggregator: Any, method: str) -> None:
    """Refuse a seed-API ``aggregator`` other than None: track keeps every point, so none applies.

    The seeds' aggregators chose what to keep of a series (a ring, a summary); track stores
    every metric point and the last value of each metadata key, so accepting one and ignoring
    it would hide that it has no effect.
    """
    if aggregator is not None:
        raise ValueError(
            f"{method}(aggregator={aggregator!r}) is not supported: track keeps every metric "
            "point (and the last value of each metadata key) instead of aggregating them. "
            "Pass no aggregator; for summaries use trial.report(short=True) (last, min, max, "
            "count of each metric) or `track show UID`"
        )


def finish_status(exc_type: type[BaseException] | None) -> Status:
    """The status a trial ends in: Completed, Interrupted (signal, Ctrl-C) or Exception."""
    if exc_type is None:
        return Status.Completed
    if issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
        return Status.Interrupted
    return Status.Exception


class RecordedTimer(Aggregator):
    """A timer summary measured in the trainer, handed to a store that times events itself.

    ``append`` ignores the store's own measurement (the gap between the start and finish
    calls that deliver the summary); ``to_json`` returns the trainer's summary.
    """

    def __init__(self, summary: dict[str, Any]) -> None:
        self.summary = summary

    def append(self, other: Any) -> None:
        """Ignore: the store's timing of the hand-over is not an observation."""

    def to_json(self, short: bool = False) -> dict[str, Any]:
        """The trainer's summary of the timer."""
        return self.summary

    @property
    def val(self) -> Any:
        """The summary (there is no single last value)."""
        return self.summary


def _returning(timer: RecordedTimer) -> Callable[[], RecordedTimer]:
    """The aggregator factory that hands a seed store ``timer``, the trainer's measurement."""
    return lambda: timer


class Protocol:
    """Base class of every store. Subclass it and register a URI scheme to add your own."""

    #: the URI the store was opened with (None for one built in code without a URI); stores
    #: built from a URI set it, and what people are shown of it goes through ``redact``
    uri: URI | None = None

    # ---- the write primitive -------------------------------------------------------------

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Apply a batch of writes to one trial; True if applied, False if applied before.

        The default loops over the seed API's per-call methods, so a store written to the
        seeds' ``Protocol`` (``log_trial_metrics``, ``log_trial_metadata``, ``add_trial_tags``,
        ``log_trial_chrono_start``/``log_trial_chrono_finish``, ``set_trial_status``) receives
        every write. Every method the batch needs is looked up before anything is applied, so
        a store missing one refuses the whole batch instead of applying part of it on every
        retry. Such a store keeps no (writer, seq) record, so it always answers True. The
        seed API appends an error only with a status: errors without a status are sent with the
        status the store holds (``get_trial``), which they leave as it is.
        """
        needed = {
            "log_trial_metrics": bool(batch.series),
            "log_trial_metadata": bool(batch.metadata),
            "add_trial_tags": bool(batch.tags),
            "set_trial_status": batch.status is not None or bool(batch.errors),
        }
        own = {name: self._own(name) for name, used in needed.items() if used}
        record_chronos = self._chrono_writer() if batch.chronos else None
        status: AnyStatus | None = None
        if batch.status is not None:
            status = status_from_doc(batch.status)
        elif batch.errors:  # errors alone leave the status as it is
            status = self._stored_status(trial)
        for name, step, value, _ in batch.points():
            own["log_trial_metrics"](trial, step=step, **{name: value})
        if batch.metadata:
            own["log_trial_metadata"](trial, **batch.metadata)
        if batch.tags:
            own["add_trial_tags"](trial, **batch.tags)
        if record_chronos is not None:
            record_chronos(trial, batch.chronos)
        if batch.status is not None or batch.errors:
            errors: list[str | None] = [*batch.errors] or [None]
            for error in errors:
                own["set_trial_status"](trial, status, error=error)
        return True

    def _stored_status(self, trial: Trial) -> AnyStatus | None:
        """The status ``trial`` has in this store (the seed API sets errors with a status)."""
        stored = self.get_trial(trial)
        if not stored:
            raise TrialNotFound(f"no trial {trial.uid!r} in this store")
        return stored[0].status

    def _own(self, name: str) -> Callable[..., Any]:
        """This store's own ``name`` method; refuses when only the base class's default exists."""
        if not self._implements(name):
            raise NotImplementedError(
                f"{type(self).__name__} must implement log_trial_batch or {name}"
            )
        method: Callable[..., Any] = getattr(self, name)
        return method

    def _implements(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(Protocol, name)

    def _chrono_writer(self) -> Callable[[Trial, dict[str, Any]], None]:
        """How this store takes timer summaries: ``log_trial_chronos``, else the seed's events.

        A seed store times events itself between ``log_trial_chrono_start`` and
        ``log_trial_chrono_finish``. The trainer already measured them, so the store gets an
        aggregator holding the measured summary (:class:`RecordedTimer`), updated in place at
        every batch, and its own measurement of the hand-over is not counted.
        """
        if self._implements("log_trial_chronos"):
            return lambda trial, chronos: self.log_trial_chronos(trial, **chronos)
        if not (
            self._implements("log_trial_chrono_start")
            and self._implements("log_trial_chrono_finish")
        ):
            raise NotImplementedError(
                f"{type(self).__name__} must implement log_trial_batch, log_trial_chronos or "
                "log_trial_chrono_start and log_trial_chrono_finish"
            )
        recorded: dict[tuple[str, str], RecordedTimer] = self.__dict__.setdefault(
            "_recorded_timers", {}
        )

        def replay(trial: Trial, chronos: dict[str, Any]) -> None:
            for name, summary in chronos.items():
                timer = recorded.get((trial.uid, name))
                if timer is None:
                    timer = recorded[(trial.uid, name)] = RecordedTimer(summary)
                timer.summary = summary
                self.log_trial_chrono_start(trial, name, aggregator=_returning(timer))
                self.log_trial_chrono_finish(trial, name, None, None, None)

        return replay

    # ---- per-call writes, each a one-call batch ------------------------------------------

    def log_trial_metrics(
        self, trial: Trial, step: Any = None, aggregator: Any = None, **kwargs: Any
    ) -> None:
        """Record metric values for ``trial`` at ``step`` (None: append to the series).

        ``aggregator`` is the seed API's; only None is accepted (see :func:`refuse_aggregator`).
        """
        refuse_aggregator(aggregator, "log_trial_metrics")
        now = time.time()
        step = step_value(step)
        points = [(k, step, metric_value(k, v), now) for k, v in kwargs.items()]
        self.log_trial_batch(trial, TrialBatch(metrics=points))

    def log_trial_metadata(self, trial: Trial, aggregator: Any = None, **kwargs: Any) -> None:
        """Set metadata keys of ``trial`` (last value wins); ``aggregator`` must be None."""
        refuse_aggregator(aggregator, "log_trial_metadata")
        self.log_trial_batch(trial, TrialBatch(metadata=jsonable_dict(kwargs)))

    def log_trial_chronos(self, trial: Trial, **summaries: Any) -> None:
        """Replace the summaries of named timers of ``trial``."""
        self.log_trial_batch(trial, TrialBatch(chronos=jsonable_dict(summaries)))

    def add_trial_tags(self, trial: Trial, **kwargs: Any) -> None:
        """Add or replace tags of ``trial``."""
        self.log_trial_batch(trial, TrialBatch(tags=jsonable_dict(kwargs)))

    def set_trial_status(self, trial: Trial, status: AnyStatus, error: str | None = None) -> None:
        """Change the status of ``trial``, appending ``error`` to its errors when given."""
        batch = TrialBatch(status=status_to_doc(status), errors=[error] if error else [])
        self.log_trial_batch(trial, batch)

    def log_trial_start(self, trial: Trial) -> None:
        """Mark ``trial`` Running and record its start time."""
        batch = TrialBatch(
            status=status_to_doc(Status.Running), metadata={"start_time": time.time()}
        )
        self.log_trial_batch(trial, batch)

    def log_trial_finish(
        self,
        trial: Trial,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: Any = None,
    ) -> None:
        """Mark ``trial`` Completed, Interrupted or Exception and record its end time."""
        status = finish_status(exc_type)
        errors = []
        if exc_type is not None and status is Status.Exception:
            errors.append(f"{exc_type.__name__}: {exc_val}")
        batch = TrialBatch(
            status=status_to_doc(status), errors=errors, metadata={"end_time": time.time()}
        )
        self.log_trial_batch(trial, batch)

    def log_trial_chrono_start(
        self,
        trial: Trial,
        name: str,
        aggregator: Callable[[], Any] | None = None,
        start_callback: Callable[[], Any] | None = None,
        end_callback: Callable[[], Any] | None = None,
    ) -> None:
        """Start a named timer kept by this protocol object (see :meth:`log_trial_chrono_finish`)."""
        timers = self.__dict__.setdefault("_chrono_timers", {})
        key = (trial.uid, name)
        if key not in timers:
            timers[key] = [(aggregator or StatAggregator.lazy(1))(), None, end_callback]
        if start_callback is not None:
            start_callback()
        timers[key][1] = time.perf_counter()

    def log_trial_chrono_finish(
        self, trial: Trial, name: str, exc_type: Any = None, exc_val: Any = None, exc_tb: Any = None
    ) -> None:
        """Stop a timer started by :meth:`log_trial_chrono_start` and store its summary."""
        timers = self.__dict__.get("_chrono_timers", {})
        accumulator, started, end_callback = timers[(trial.uid, name)]
        if end_callback is not None:
            end_callback()
        accumulator.append(time.perf_counter() - started)
        self.log_trial_chronos(trial, **{name: accumulator.to_json()})

    # ---- creation and lookups ------------------------------------------------------------

    def log_trial_arguments(self, trial: Trial, **kwargs: Any) -> None:
        """Merge parameters into a stored trial (its uid does not change)."""
        raise NotImplementedError

    def get_project(self, project: Project) -> Project | None:
        """The stored project with ``project``'s uid, or None."""
        raise NotImplementedError

    def new_project(self, project: Project) -> Project | None:
        """Insert ``project``; None if it already exists."""
        raise NotImplementedError

    def get_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """The stored group with ``group``'s uid, or None."""
        raise NotImplementedError

    def new_trial_group(self, group: TrialGroup) -> TrialGroup | None:
        """Insert ``group``; None if it already exists."""
        raise NotImplementedError

    def add_project_trial(self, project: Project, trial: Trial) -> None:
        """Attach ``trial`` to ``project``."""
        raise NotImplementedError

    def add_group_trial(self, group: TrialGroup, trial: Trial) -> None:
        """Add ``trial`` to ``group`` (a trial may be in several groups)."""
        raise NotImplementedError

    def set_group_metadata(self, group: TrialGroup, **kwargs: Any) -> None:
        """Set metadata keys of ``group``."""
        raise NotImplementedError

    def get_trial(self, trial: Trial) -> list[Trial]:
        """Stored trials matching ``trial``: by uid when it has a revision, else every revision."""
        raise NotImplementedError

    def new_trial(self, trial: Trial, auto_increment: bool = False) -> Trial | None:
        """Insert ``trial``; if its uid exists, bump the revision (auto_increment) or return None."""
        raise NotImplementedError

    def fetch_trials(self, query: dict[str, Any] | None, with_metrics: bool = True) -> list[Trial]:
        """Trials matching a query of the query language.

        With ``with_metrics=False`` each metric holds only its last point, which is what a
        table of trials needs; stores that keep points apart (SQL) then skip loading series.
        """
        raise NotImplementedError

    def get_trial_metrics(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[list[Any]]]:
        """The full series of a trial's metrics (all of them, or those named)."""
        found = self.get_trial(trial)
        if not found:
            return {}
        metrics = found[0].metrics
        return {k: v for k, v in metrics.items() if names is None or k in names}

    def get_trial_series(
        self, trial: Trial, names: list[str] | None = None, low: Any = None, high: Any = None
    ) -> dict[str, SeriesColumns]:
        """A trial's series as columns (all, or those named), for reading many points fast.

        With ``low`` or ``high``, only the points whose step is a number within them
        (inclusive). SQL stores unpack only the chunks that may hold such steps; this default
        converts :meth:`get_trial_metrics`.
        """
        return {
            name: SeriesColumns.from_points(points).between(low, high)
            for name, points in self.get_trial_metrics(trial, names).items()
        }

    def get_series_previews(
        self, trial: Trial, names: list[str] | None = None
    ) -> dict[str, list[ChunkPreview]]:
        """Each series' chunk summaries (:data:`ChunkPreview`), for drawing a long series
        without reading its points; empty from a store that does not keep points in chunks."""
        return {}

    def fetch_summaries(
        self, query: dict[str, Any] | None
    ) -> list[tuple[Trial, dict[str, MetricSummary]]]:
        """Matching trials, each with its metrics summarized: ``(trial, {name: [count, min, max]})``.

        Each trial is what ``fetch_trials(query, with_metrics=False)`` gives (each metric
        holds its last point): what a table of trials needs, read at once without loading
        series. This default loads them through :meth:`fetch_trials`; SQL stores read the
        summaries they keep per series, in the same transaction as the trials.
        """
        found = []
        for trial in self.fetch_trials(query):  # copied: a store may hand out its own objects
            series = trial.metrics
            last = replace(trial, metrics={name: points[-1:] for name, points in series.items()})
            found.append(
                (last, {name: summarize_points(points) for name, points in series.items()})
            )
        return found

    def fetch_groups(self, query: dict[str, Any] | None) -> list[TrialGroup]:
        """Groups matching a query."""
        raise NotImplementedError

    def fetch_projects(self, query: dict[str, Any] | None) -> list[Project]:
        """Projects matching a query."""
        raise NotImplementedError

    def fetch_and_update_trial(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> Trial | None:
        """Atomically pick one trial matching ``query`` and apply the update method ``attr``.

        The building block of parallel search workers reserving trials; returns the updated
        trial, or None when nothing matched.
        """
        raise NotImplementedError

    def fetch_and_update_group(
        self, query: dict[str, Any], attr: str, *args: Any, **kwargs: Any
    ) -> TrialGroup | None:
        """Atomically pick one group matching ``query`` and apply the update method ``attr``."""
        raise NotImplementedError

    def fetch_and_update_once(
        self,
        request: str,
        kind: str,
        query: dict[str, Any],
        attr: str,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Trial | TrialGroup | None:
        """``fetch_and_update_trial`` (``kind="trial"``) or ``_group``, applied once per ``request``.

        A store that records ``request`` in the same transaction as the update answers a
        repeated request with the item it picked the first time (its current state) instead
        of reserving a second one: that is what makes a reservation resent after a server
        restart safe. This default records nothing; track's stores override it.
        """
        if kind not in ("trial", "group"):
            raise ValueError(f"kind must be 'trial' or 'group', not {kind!r}")
        update = self.fetch_and_update_trial if kind == "trial" else self.fetch_and_update_group
        return update(query, attr, *args, **(kwargs or {}))

    # ---- editing (delete, rename, untag) --------------------------------------------------

    def delete_trials(self, uids: Sequence[str]) -> int:
        """Delete the trials with these uids, with their points, series and group memberships.

        Uids the store does not hold are skipped; returns how many trials were deleted. Only
        what is named goes: other trials, and the projects and groups, stay. One transaction.
        """
        raise NotImplementedError

    def delete_group(self, uid: str, trials: bool = False) -> int:
        """Delete a group; returns how many of its trials were deleted with it.

        A group that still holds trials is refused (:class:`WriteRefused`) unless
        ``trials=True``, which deletes its trials too: nothing the caller did not name goes.
        """
        raise NotImplementedError

    def delete_project(self, uid: str, trials: bool = False) -> int:
        """Delete a project and its groups; returns how many trials were deleted with it.

        A project that still holds trials (its own or its groups') is refused
        (:class:`WriteRefused`) unless ``trials=True``.
        """
        raise NotImplementedError

    def set_trial_display(self, uid: str, name: str | None = None, note: str | None = None) -> None:
        """Set a trial's display name and free-text note without changing its identity.

        Kept in ``metadata.display_name`` and ``metadata.note`` (the uid and hash, built from
        the trial's name and parameters, stay). None leaves a field as it is; "" removes it.
        """
        raise NotImplementedError

    def remove_trial_tags(self, uid: str, names: Sequence[str]) -> None:
        """Remove the named tags of a trial (names it does not have are ignored)."""
        raise NotImplementedError

    # ---- artifacts (files stored content-addressed, see track.persistence.artifacts) --------

    def put_artifact(
        self,
        trial: Trial,
        name: str,
        source: ArtifactSource,
        media_type: str | None = None,
    ) -> ArtifactInfo:
        """Store a file (an open binary file or a path) as ``trial``'s artifact ``name``.

        The bytes are streamed in chunks and kept once per distinct content (sha256); an
        artifact already called ``name`` is replaced in the index. ``media_type`` defaults to
        a guess from ``name``. Synchronous: it returns once the bytes are stored.
        """
        raise ArtifactsUnsupported(artifacts_unsupported(self))

    def list_artifacts(self, trial: Trial) -> list[ArtifactInfo]:
        """The artifact index of ``trial``, by name."""
        raise ArtifactsUnsupported(artifacts_unsupported(self))

    def open_artifact(self, trial: Trial, name: str) -> Iterator[bytes]:
        """The bytes of ``trial``'s artifact ``name``, chunk by chunk, digest checked.

        Raises :class:`~track.persistence.artifacts.ArtifactNotFound` at once when there is
        no such artifact, and :class:`~track.persistence.artifacts.CorruptArtifact` after the
        last chunk when the bytes do not match the recorded sha256.
        """
        raise ArtifactsUnsupported(artifacts_unsupported(self))

    def collect_artifacts(self) -> tuple[int, int]:
        """Remove the stored contents no trial's index names; returns ``(contents, bytes)``.

        Deleting trials removes their index entries only; this frees the bytes nothing names
        any more (content another trial still names stays), and the leftovers of puts
        abandoned for a day (counted in the bytes). Safe while other writers put: see
        docs/artifacts.md, "Collecting unreferenced contents".
        """
        raise ArtifactsUnsupported(artifacts_unsupported(self))

    # ---- side files and commits ---------------------------------------------------------

    @property
    def folder(self) -> str | None:
        """The folder this store's side files belong in; None when it has no folder of its own.

        Side files are what track keeps next to a store: spill files of batches the store did
        not take, the disk whose usage the system sampler reports. A store in a file answers
        that file's folder (``file://``, ``pickled://``, ``sqlite://``); one in memory, behind
        a server or in a database server answers None, and callers use the working directory.
        """
        return None

    def defer_commits(self) -> None:
        """Keep writes until :meth:`commit` instead of making each one durable as it is applied.

        For a caller that commits once per group of writes (the track server's store worker).
        A store that writes its files at every write (``file://``) honours it; the default does
        nothing, for stores whose every write is already a transaction of its own (SQL).
        """

    def commit(self, **kwargs: Any) -> None:
        """Make every applied write durable (a no-op for stores that commit per batch)."""

    def close(self) -> None:
        """Release connections and files."""


def artifacts_unsupported(store: Protocol) -> str:
    """Why ``store`` refuses artifacts, and which stores keep them."""
    return (
        f"{type(store).__name__} does not store artifacts: file://, pickled://, sqlite:// and "
        "postgresql:// stores do (not yet through a track server, socket://)"
    )


def check_update_method(attr: str, allowed: frozenset[str]) -> None:
    """Refuse any ``attr`` that is not a known update method (it may come from the network)."""
    if attr not in allowed:
        raise ValueError(f"{attr!r} is not an update method; allowed: {', '.join(sorted(allowed))}")
