"""The data model every store shares: projects, trial groups, trials and their statuses.

Identity is derived from content so that independent processes agree on it without talking:
a project's uid is its name, a group's uid hashes (name, project), and a trial's hash hashes
(name, version, parameters); a trial's uid is ``f"{hash}_{revision}"``.
"""

from __future__ import annotations

import enum
import html
import json
from dataclasses import dataclass, field
from typing import Any

from track.errors import InvalidValue
from track.versioning import compute_hash

__all__ = [
    "CustomStatus",
    "Project",
    "Status",
    "TagConflict",
    "Trial",
    "TrialGroup",
    "as_tags",
    "get_current_project",
    "get_current_trial",
    "inherit_tags",
    "set_current_project",
    "set_current_trial",
    "status",
]


class Status(enum.Enum):
    """Built-in trial and group statuses; values group them (1xx running, 2xx error, 3xx done)."""

    CreatedGroup = 0
    RunningGroup = 100
    Running = 101
    ErrorGroup = 200
    Interrupted = 201
    Exception = 202
    Broken = 203
    FinishedGroup = 300
    Suspended = 301
    Completed = 302


class CustomStatus:
    """A user-defined status (e.g. ``reserved``) that compares equal to its name."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.name
        if isinstance(other, (CustomStatus, Status)):
            return other.name == self.name and other.value == self.value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"CustomStatus({self.name!r}, {self.value})"


AnyStatus = Status | CustomStatus

_STATUS_BY_NAME = {s.name.lower(): s for s in Status}
_STATUS_BY_VALUE = {s.value: s for s in Status}


def status(name: str | None = None, value: int | None = None) -> AnyStatus:
    """Resolve a status from its name (case-insensitive) or value; unknown pairs become custom."""
    if name is not None:
        known = _STATUS_BY_NAME.get(name.lower())
        if known is not None and (value is None or known.value == value):
            return known
        if value is None:
            raise ValueError(f"unknown status {name!r}: give a value to define a custom status")
        return CustomStatus(name, value)
    if value is not None:
        known = _STATUS_BY_VALUE.get(value)
        if known is None:
            raise ValueError(f"unknown status value {value}")
        return known
    raise ValueError("status() needs a name or a value")


def status_matches(stored: AnyStatus, wanted: Any) -> bool:
    """True when ``wanted`` (a status, a name or a value) designates ``stored``."""
    if isinstance(wanted, (Status, CustomStatus)):
        return stored.name == wanted.name and stored.value == wanted.value
    if isinstance(wanted, str):
        return stored.name.lower() == wanted.lower()
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        return stored.value == wanted
    return False


def as_tags(tags: Any) -> dict[str, Any]:
    """Tags as a dict: a dict is kept, a list (tuple, set) of labels maps each label to None.

    Track 0.0.1's examples write ``tags=[...]``; a label is a tag with no value. A bare string
    is refused rather than guessed (one label, or one label per letter?).
    """
    if tags is None:
        return {}
    if isinstance(tags, dict):
        return tags
    if isinstance(tags, (list, tuple, set, frozenset)):
        for label in tags:
            if not isinstance(label, str):
                raise TypeError(f"tag label {label!r} is a {type(label).__name__}, not a string")
        return dict.fromkeys(sorted(tags) if isinstance(tags, (set, frozenset)) else tags)
    raise TypeError(
        f"tags are a dict or a list of labels, not {type(tags).__name__} ({tags!r}); "
        "write tags=[label] for a single label"
    )


class TagConflict(InvalidValue):
    """A group or trial gives another value to a tag of its project: project tags are inherited
    by every group and trial of the project and cannot be overridden by them."""


def inherit_tags(inherited: dict[str, Any], own: dict[str, Any], owner: str) -> dict[str, Any]:
    """``own`` tags completed with the ``inherited`` ones; TagConflict if ``own`` changes one."""
    changed = sorted(k for k, v in own.items() if k in inherited and inherited[k] != v)
    if changed:
        detail = ", ".join(f"{k}={inherited[k]!r} (not {own[k]!r})" for k in changed)
        raise TagConflict(
            f"{owner} cannot override the tags of its project: {detail}; project tags are "
            "inherited by its groups and trials"
        )
    return {**own, **inherited}


class _Identified:
    """Identity by uid: equal and hashed by uid, which is computed unless set explicitly."""

    _uid: str | None

    def compute_uid(self) -> str:
        """The uid this object has in every store."""
        raise NotImplementedError

    @property
    def uid(self) -> str:
        """Stable identifier (computed from content unless set explicitly)."""
        return self._uid if self._uid is not None else self.compute_uid()

    def __hash__(self) -> int:
        return hash(self.uid)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.uid == self.uid


@dataclass(eq=False)
class Project(_Identified):
    """Top-level container of trial groups and trials; its uid is its name.

    If a project defines tags, all its children (groups and trials) inherit those tags, and
    cannot override them (enforced by ``TrackClient`` and ``TrialLogger``; see ``TagConflict``).
    """

    _uid: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)
    trials: set[str] = field(default_factory=set)
    tags: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tags = as_tags(self.tags)

    def compute_uid(self) -> str:
        """The uid a project of this name has in every store."""
        return str(self.name)


@dataclass(eq=False)
class TrialGroup(_Identified):
    """A named set of trials inside a project (an idea, a sweep); trials may be in several.

    Its tags include its project's (see ``Project``).
    """

    _uid: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    trials: set[str] = field(default_factory=set)
    project_id: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tags = as_tags(self.tags)

    def compute_uid(self) -> str:
        """Hash of (name, project): the same group name in two projects is two groups."""
        return compute_hash(self.name, self.project_id)


@dataclass(eq=False)
class Trial:
    """One training run: its parameters, metrics, chronos, metadata, tags, status and errors.

    ``metrics`` maps a metric name to its points, a list of ``[step, value, time]`` in the order
    they were logged (``step`` is None for series logged without a step).
    """

    _hash: str | None = None
    revision: int = 0
    name: str | None = None
    description: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    group_id: str | None = None
    project_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, list[list[Any]]] = field(default_factory=dict)
    chronos: dict[str, Any] = field(default_factory=dict)
    status: AnyStatus | None = Status.CreatedGroup
    errors: list[str] = field(default_factory=list)
    groups: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.tags = as_tags(self.tags)

    def compute_hash(self) -> str:
        """Hash of (name, version, parameters), independent of dict order and process."""
        return compute_hash(name=self.name, version=self.version, parameters=self.parameters)

    @property
    def hash(self) -> str:
        """Content hash; trials with the same hash differ only by revision."""
        return self._hash if self._hash is not None else self.compute_hash()

    @property
    def uid(self) -> str:
        """``{hash}_{revision}``: unique within a store."""
        return f"{self.hash}_{self.revision}"

    def __hash__(self) -> int:
        return hash(self.uid)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trial) and other.uid == self.uid

    def _repr_html_(self) -> str:
        """The trial as an HTML table, as Jupyter shows it: identity, status, parameters, tags
        and each metric's last value (with its step and number of points held)."""
        rows: list[tuple[str, Any]] = [
            ("uid", self.uid),
            ("name", self.name),
            ("status", self.status.name if self.status is not None else None),
            ("project", self.project_id),
            ("group", self.group_id),
        ]
        rows += [(f"parameters.{key}", value) for key, value in sorted(self.parameters.items())]
        rows += [(f"tags.{key}", value) for key, value in sorted(self.tags.items())]
        for name, points in sorted(self.metrics.items()):
            if points:
                step, value = points[-1][0], points[-1][1]
                rows.append((f"metrics.{name}", f"{value!r} at step {step!r} (last point)"))
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(key)}</th>"
            f"<td style='text-align:left'>{html.escape(_shown(value))}</td></tr>"
            for key, value in rows
            if value is not None
        )
        return f"<table class='track-trial'>{cells}</table>"


def _shown(value: Any) -> str:
    """A value as one line of text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


@dataclass
class _Current:
    """The project and trial most recently set by a client in this process."""

    project: Project | None = None
    trial: Trial | None = None


_current = _Current()


def get_current_project() -> Project | None:
    """The project most recently set by a client in this process."""
    return _current.project


def set_current_project(project: Project | None) -> None:
    """Remember ``project`` as this process's current project."""
    _current.project = project


def get_current_trial() -> Trial | None:
    """The trial most recently set by a client in this process."""
    return _current.trial


def set_current_trial(trial: Trial | None) -> None:
    """Remember ``trial`` as this process's current trial."""
    _current.trial = trial
