"""The seeds' ``Serializer*`` classes: one object per kind of value, with ``to_json``/``from_json``.

They are built over track's document functions (:mod:`track.serialization`), so a document
they write is the one every store holds. Projects, groups and trials carry their kind in a
``dtype`` key, so ``from_json(to_json(x))`` needs no ``dtype`` argument.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, cast

from track.aggregators.aggregator import StatAggregator, TimeSeriesAggregator
from track.chrono import ChronoContext
from track.compat.types import Document
from track.serialization import from_json, report_doc, status_from_doc, status_to_doc, to_json
from track.structure import CustomStatus, Project, Status, Trial, TrialGroup
from track.utils.stat import StatStream

__all__ = [
    "SerializerAspect",
    "SerializerChronoContext",
    "SerializerDatetime",
    "SerializerProject",
    "SerializerStatStream",
    "SerializerStatus",
    "SerializerTrial",
    "SerializerTrialGroup",
    "SerializerUUID",
]


class SerializerAspect:
    """Turns one kind of object into a JSON-native value (``to_json``) and back (``from_json``).

    This base serializes any value as :func:`track.serialization.to_json` does and reads a
    JSON value back as it is.
    """

    def to_json(self, obj: Any, short: bool = False) -> Any:
        """``obj`` as a JSON-native value; ``short`` gives the report's shorter form."""
        return to_json(obj, short)

    def from_json(self, obj: Any) -> Any:
        """The value ``obj`` was serialized from."""
        return obj


class SerializerTrial(SerializerAspect):
    """A trial as its document (``dtype: "trial"``); ``short`` gives the report's digest."""

    #: metadata keys written by track's bookkeeping, left out of the short form
    ignore_meta = frozenset({"_last_change", "_update_count", "heartbeat", "heartbeat_interval"})
    #: identity keys left out of the short form
    ignore_short = frozenset({"uid", "hash", "dtype", "project_id", "group_id"})

    def to_json(self, obj: Trial, short: bool = False) -> Document:
        """The trial's document, or with ``short`` its report without identity keys."""
        if not short:
            return cast(Document, to_json(obj))
        doc = {k: v for k, v in report_doc(obj, short=True).items() if k not in self.ignore_short}
        doc["metadata"] = {k: v for k, v in doc["metadata"].items() if k not in self.ignore_meta}
        return doc

    def from_json(self, obj: Document) -> Trial:
        """The trial of a (full) document."""
        return cast(Trial, from_json(obj, "trial"))


class SerializerTrialGroup(SerializerAspect):
    """A trial group as its document (``dtype: "group"``)."""

    def to_json(self, obj: TrialGroup, short: bool = False) -> Document:
        """The group's document (the same with ``short``)."""
        return cast(Document, to_json(obj))

    @staticmethod
    def maybe_unflatten(v: Any) -> Any:
        """A JSON list (how a set of uids is written) as a set; any other value unchanged."""
        return set(v) if isinstance(v, list) else v

    def from_json(self, obj: Document) -> TrialGroup:
        """The group of a document."""
        return cast(TrialGroup, from_json(obj, "group"))


class SerializerProject(SerializerAspect):
    """A project as its document (``dtype: "project"``)."""

    def to_json(self, obj: Project, short: bool = False) -> Document:
        """The project's document (the same with ``short``)."""
        return cast(Document, to_json(obj))

    def from_json(self, obj: Document) -> Project:
        """The project of a document."""
        return cast(Project, from_json(obj, "project"))


class SerializerStatus(SerializerAspect):
    """A status as ``{"name", "value"}``."""

    def to_json(self, obj: Status | CustomStatus, short: bool = False) -> Document | None:
        """``{"name", "value"}``."""
        return status_to_doc(obj)

    def from_json(self, obj: Any) -> Status | CustomStatus | None:
        """The status a document, a name or a value designates."""
        return status_from_doc(obj)


class SerializerStatStream(SerializerAspect):
    """A :class:`~track.utils.stat.StatStream` as its full state, or its summary when ``short``."""

    def to_json(self, obj: StatStream, short: bool = False) -> Document:
        """The stream's state (what :meth:`from_json` rebuilds it from), or its summary."""
        return obj.to_json() if short else obj.state_dict()

    def from_json(self, obj: Document, short: bool = False) -> StatStream:
        """The stream of a full state (a ``short`` summary holds too little to rebuild one)."""
        if short:
            raise ValueError("a short StatStream summary cannot be read back; serialize the state")
        return StatStream.from_dict(obj)


class SerializerChronoContext(SerializerAspect):
    """A timer (:class:`~track.chrono.ChronoContext`) as what it accumulated."""

    def to_json(self, obj: ChronoContext, short: bool = False) -> Any:
        """The timer's accumulator as JSON: a statistics summary, or the list of durations."""
        return to_json(obj.acc, short)

    def from_json(self, obj: Any) -> ChronoContext:
        """A timer accumulating on from a summary (StatAggregator) or a list of durations."""
        if isinstance(obj, list):
            series = TimeSeriesAggregator()
            for value in obj:
                series.append(value)
            return ChronoContext(series)
        return ChronoContext(StatAggregator.from_json(obj))


class SerializerDatetime(SerializerAspect):
    """A datetime as its ISO 8601 text."""

    def to_json(self, obj: datetime.datetime, short: bool = False) -> str:
        """``obj.isoformat()``."""
        return obj.isoformat()

    def from_json(self, obj: str) -> datetime.datetime:
        """The datetime of an ISO 8601 text."""
        return datetime.datetime.fromisoformat(obj)


class SerializerUUID(SerializerAspect):
    """A UUID as its text."""

    def to_json(self, obj: uuid.UUID, short: bool = False) -> str:
        """``str(obj)``."""
        return str(obj)

    def from_json(self, obj: str) -> uuid.UUID:
        """The UUID of its text."""
        return uuid.UUID(obj)
