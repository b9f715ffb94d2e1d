"""Names for the shapes track's API passes around (the seeds' ``track.containers.types``).

They are plain aliases, for annotations in user code and custom stores.
"""

from __future__ import annotations

from typing import Any, TypeAlias

__all__ = ["Document", "Point", "Query", "Series", "Step", "Uid", "Value"]

#: a trial's step: an int, a float, a string or None (no step)
Step: TypeAlias = int | float | str | None
#: a metric value
Value: TypeAlias = int | float
#: one stored metric point: ``[step, value, time]`` (time in epoch seconds)
Point: TypeAlias = list[Any]
#: every point of one metric, in logging order
Series: TypeAlias = list[Point]
#: a project, group or trial as a JSON-native document (:mod:`track.serialization`)
Document: TypeAlias = dict[str, Any]
#: a query of track's query language (:mod:`track.query`)
Query: TypeAlias = dict[str, Any]
#: a project's, group's or trial's uid
Uid: TypeAlias = str
