"""``track.utils.debug`` (seed API): ``print_stack``, kept in :mod:`track.compat.debug`."""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = {"print_stack": "track.compat.debug"}
__all__ = list(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
