"""``track.containers.types`` (seed API): type aliases, kept in :mod:`track.compat.types`."""

from __future__ import annotations

from track.compat.types import Document, Point, Query, Series, Step, Uid, Value

__all__ = ["Document", "Point", "Query", "Series", "Step", "Uid", "Value"]
