"""``track.containers.types`` (seed API): type aliases, kept in :mod:`track.compat.types`."""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = dict.fromkeys(
    ("Document", "Point", "Query", "Series", "Step", "Uid", "Value"), "track.compat.types"
)
__all__ = list(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
