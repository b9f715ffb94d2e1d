"""Conversions between track objects and JSON-native documents, shared by every store.

Stores and the wire carry *documents*: plain dicts of str/int/float/bool/None/list/dict.
This module is the one place that turns objects into documents and back, and that turns
user values (numpy or torch scalars, tuples, ...) into JSON-native ones, naming the key
when a value cannot be stored.
"""

from __future__ import annotations

import datetime
import math
import numbers
import uuid
from typing import Any

from track.errors import InvalidValue
from track.registry import lazy_aliases
from track.structure import CustomStatus, Project, Status, Trial, TrialGroup, status

__all__ = [
    "from_json",
    "group_from_doc",
    "group_to_doc",
    "jsonable",
    "metric_value",
    "project_from_doc",
    "project_to_doc",
    "status_from_doc",
    "status_to_doc",
    "step_value",
    "to_json",
    "trial_from_doc",
    "trial_to_doc",
]


class UnserializableValue(InvalidValue, TypeError):
    """A logged value that no store can hold; the message names the key.

    An :class:`~track.errors.InvalidValue` (so also a ``ValueError``) that stays the
    ``TypeError`` it was before track's hierarchy.
    """


def _scalar(value: Any) -> Any:
    """The plain Python number inside a numpy/torch scalar or 0-d/1-element array, else value."""
    item = getattr(type(value), "item", None)
    if item is None:
        return value
    size = getattr(value, "size", None)
    size = size() if callable(size) else size
    if size == 1 or getattr(value, "ndim", None) == 0:
        return value.item()
    return value


#: the ints every store keeps as numbers (SQL stores: BIGINT, and SQLite's 64-bit integers)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def metric_value(key: str, value: Any) -> float | int:
    """A metric value as a plain number; anything that is not a number, or an int beyond 64 bits,
    raises, naming ``key``."""
    if isinstance(value, float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return _int64(f"metric {key!r}", value)
    value = _scalar(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return _int64(f"metric {key!r}", int(value))
    if isinstance(value, numbers.Real):
        return float(value)
    raise UnserializableValue(
        f"metric {key!r}: {type(value).__name__} is not a number (metrics must be numeric)"
    )


def _int64(what: str, number: int) -> int:
    if not INT64_MIN <= number <= INT64_MAX:
        shown = number if number.bit_length() <= 128 else f"an int of {number.bit_length()} bits"
        raise UnserializableValue(
            f"{what}: {shown} is outside int64 (-2**63 to 2**63 - 1), which SQL stores keep as "
            "numbers; log float(...) to plot it, or put it in metadata to keep it exactly"
        )
    return number


def step_value(step: Any) -> Any:
    """A step as an int within 64 bits, a float or a str (numpy/torch scalars unwrapped); a str
    without NUL, which PostgreSQL's text cannot hold (both refused here, so that every store
    takes the same steps)."""
    if step is None or isinstance(step, float):
        return step
    if isinstance(step, int) and not isinstance(step, bool):
        return _int64("step", step)
    if isinstance(step, str):
        if "\x00" in step:
            raise UnserializableValue(f"step {step!r}: a string step cannot contain NUL")
        return step
    step = _scalar(step)
    if isinstance(step, numbers.Integral):
        return _int64("step", int(step))
    if isinstance(step, numbers.Real):
        return float(step)
    raise UnserializableValue(f"step: {type(step).__name__} is not an int, float or str")


def jsonable(key: str, value: Any) -> Any:
    """``value`` as a JSON-native value, or an error naming ``key`` and the offending type."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(f"{key}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return [jsonable(f"{key}[]", v) for v in sorted(value, key=repr)]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (Status, CustomStatus)):
        return status_to_doc(value)
    scalar = _scalar(value)
    if scalar is not value:
        return jsonable(key, scalar)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    tolist = getattr(type(value), "tolist", None)
    if tolist is not None:
        return jsonable(key, value.tolist())
    raise UnserializableValue(f"{key!r}: cannot store a value of type {type(value).__name__}")


def jsonable_dict(values: dict[str, Any]) -> dict[str, Any]:
    """Every value of a keyword dict made JSON-native, errors naming the key."""
    return {str(k): jsonable(str(k), v) for k, v in values.items()}


def status_to_doc(value: Status | CustomStatus | None) -> dict[str, Any] | None:
    """``{"name", "value"}`` for a status, as the report shows it."""
    if value is None:
        return None
    return {"name": value.name, "value": value.value}


def status_from_doc(doc: Any) -> Status | CustomStatus | None:
    """The status a document designates (a dict, a name or a value)."""
    if doc is None:
        return None
    if isinstance(doc, (Status, CustomStatus)):
        return doc
    if isinstance(doc, dict):
        return status(doc.get("name"), doc.get("value"))
    if isinstance(doc, str):
        return status(doc)
    return status(value=int(doc))


def project_to_doc(project: Project) -> dict[str, Any]:
    """A project as a document."""
    return {
        "uid": project.uid,
        "name": project.name,
        "description": project.description,
        "metadata": jsonable_dict(project.metadata),
        "groups": sorted(project.groups),
        "trials": sorted(project.trials),
        "tags": jsonable_dict(project.tags),
    }


def project_from_doc(doc: dict[str, Any]) -> Project:
    """A project from its document."""
    return Project(
        _uid=doc["uid"],
        name=doc.get("name"),
        description=doc.get("description"),
        metadata=dict(doc.get("metadata") or {}),
        groups=set(doc.get("groups") or ()),
        trials=set(doc.get("trials") or ()),
        tags=dict(doc.get("tags") or {}),
    )


def group_to_doc(group: TrialGroup) -> dict[str, Any]:
    """A trial group as a document."""
    return {
        "uid": group.uid,
        "name": group.name,
        "description": group.description,
        "metadata": jsonable_dict(group.metadata),
        "project_id": group.project_id,
        "trials": sorted(group.trials),
        "tags": jsonable_dict(group.tags),
    }


def group_from_doc(doc: dict[str, Any]) -> TrialGroup:
    """A trial group from its document."""
    return TrialGroup(
        _uid=doc["uid"],
        name=doc.get("name"),
        description=doc.get("description"),
        metadata=dict(doc.get("metadata") or {}),
        trials=set(doc.get("trials") or ()),
        project_id=doc.get("project_id"),
        tags=dict(doc.get("tags") or {}),
    )


def trial_to_doc(trial: Trial) -> dict[str, Any]:
    """A trial as a document; metrics are lists of ``[step, value, time]`` points."""
    groups = set(trial.groups)
    if trial.group_id is not None:
        groups.add(trial.group_id)
    return {
        "uid": trial.uid,
        "hash": trial.hash,
        "revision": trial.revision,
        "name": trial.name,
        "description": trial.description,
        "version": trial.version,
        "project_id": trial.project_id,
        "group_id": trial.group_id,
        "groups": sorted(groups),
        "tags": jsonable_dict(trial.tags),
        "parameters": jsonable_dict(trial.parameters),
        "metadata": jsonable_dict(trial.metadata),
        "metrics": {name: [list(p) for p in points] for name, points in trial.metrics.items()},
        "chronos": jsonable_dict(trial.chronos),
        "status": status_to_doc(trial.status),
        "errors": list(trial.errors),
    }


def trial_from_doc(doc: dict[str, Any]) -> Trial:
    """A trial from its document (the stored status, before any liveness check)."""
    return Trial(
        _hash=doc["hash"],
        revision=doc.get("revision", 0),
        name=doc.get("name"),
        description=doc.get("description"),
        tags=dict(doc.get("tags") or {}),
        version=doc.get("version"),
        group_id=doc.get("group_id"),
        project_id=doc.get("project_id"),
        parameters=dict(doc.get("parameters") or {}),
        metadata=dict(doc.get("metadata") or {}),
        metrics={k: [list(p) for p in v] for k, v in (doc.get("metrics") or {}).items()},
        chronos=dict(doc.get("chronos") or {}),
        status=status_from_doc(doc.get("status")),
        errors=list(doc.get("errors") or ()),
        groups=set(doc.get("groups") or ()),
    )


def series_for_report(points: list[list[Any]], short: bool = False) -> Any:
    """A metric's points as the report shows them: ``{step: value}``, or a list without steps."""
    if short and len(points) > 10:
        points = points[-10:]
    if points and all(p[0] is not None for p in points):
        return {str(p[0]): p[1] for p in points}
    return [p[1] for p in points]


def report_doc(trial: Trial, short: bool = False) -> dict[str, Any]:
    """The trial in the seeds' report layout (revision, name, ..., errors, status)."""
    return {
        "uid": trial.uid,
        "revision": trial.revision,
        "name": trial.name,
        "description": trial.description,
        "version": trial.version,
        "tags": trial.tags,
        "parameters": trial.parameters,
        "metadata": _short_metadata(trial.metadata) if short else trial.metadata,
        "metrics": {k: series_for_report(v, short) for k, v in trial.metrics.items()},
        "chronos": trial.chronos,
        "errors": trial.errors,
        "status": status_to_doc(trial.status),
    }


def _short_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata with the installed-package list of the environment reduced to its size."""
    environment = metadata.get("environment")
    if not isinstance(environment, dict) or not isinstance(environment.get("packages"), dict):
        return metadata
    packages = f"{len(environment['packages'])} installed distributions (see the full report)"
    return {**metadata, "environment": {**environment, "packages": packages}}


#: metadata keys track records by itself; the short report leaves them to the full one
TRACK_METADATA = frozenset(
    {
        "creation_request",
        "end_time",
        "environment",
        "files",
        "git_commit",
        "git_dirty",
        "heartbeat",
        "heartbeat_interval",
        "launch_id",
        "local_rank",
        "output",
        "rank",
        "rank_mode",
        "rank_source",
        "start_time",
        "world_size",
    }
)


def metric_summary(points: list[list[Any]]) -> dict[str, Any]:
    """One metric's digest: its last value (and step, when it has one), min, max and count.

    NaN points count but are left out of min and max.
    """
    values = [p[1] for p in points]
    ordered = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    summary: dict[str, Any] = {"last": values[-1] if values else None}
    if points and points[-1][0] is not None:
        summary["step"] = points[-1][0]
    summary["min"] = min(ordered) if ordered else None
    summary["max"] = max(ordered) if ordered else None
    summary["count"] = len(values)
    return summary


def report_digest(trial: Trial) -> dict[str, Any]:
    """The short report: the report layout with each metric summarised (see
    :func:`metric_summary`) and only the metadata the user logged (not :data:`TRACK_METADATA`)."""
    doc = report_doc(trial)
    doc["metadata"] = {k: v for k, v in trial.metadata.items() if k not in TRACK_METADATA}
    doc["metrics"] = {name: metric_summary(points) for name, points in trial.metrics.items()}
    return doc


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def to_json(obj: Any, short: bool = False) -> Any:
    """Any track object (or plain value) as a JSON-native value, as stores and reports need.

    A trial, group or project document names its kind in ``dtype`` ("trial", "group",
    "project"), so that :func:`from_json` rebuilds it without being told.
    """
    if isinstance(obj, Trial):
        return report_doc(obj, short) if short else {"dtype": "trial", **trial_to_doc(obj)}
    if isinstance(obj, TrialGroup):
        return {"dtype": "group", **group_to_doc(obj)}
    if isinstance(obj, Project):
        return {"dtype": "project", **project_to_doc(obj)}
    to_json_method = getattr(type(obj), "to_json", None)
    if to_json_method is not None:
        return obj.to_json(short)
    return _finite(jsonable("value", obj))


def document_kind(doc: dict[str, Any]) -> str | None:
    """The kind of a document: its ``dtype``, else what its keys show (a store's documents have
    no ``dtype``: a trial has a ``hash``, a group a ``project_id``, a project ``groups``)."""
    if doc.get("dtype") is not None:
        return str(doc["dtype"])
    if "hash" in doc:
        return "trial"
    if "project_id" in doc:
        return "group"
    if "groups" in doc:
        return "project"
    return None


def from_json(obj: dict[str, Any], dtype: str | None = None) -> Any:
    """Rebuild a trial, group or project from its document (``dtype`` forces the kind)."""
    kind = dtype or document_kind(obj)
    builders = {"trial": trial_from_doc, "group": group_from_doc, "project": project_from_doc}
    if kind not in builders:
        raise ValueError(f"unknown document type {kind!r}; expected one of {sorted(builders)}")
    return builders[kind](obj)


#: the seeds' serializer classes, kept in :mod:`track.compat.serializers`
_COMPAT = dict.fromkeys(
    (
        "SerializerAspect",
        "SerializerChronoContext",
        "SerializerDatetime",
        "SerializerProject",
        "SerializerStatStream",
        "SerializerStatus",
        "SerializerTrial",
        "SerializerTrialGroup",
        "SerializerUUID",
    ),
    "track.compat.serializers",
)
__getattr__ = lazy_aliases(__name__, _COMPAT)
