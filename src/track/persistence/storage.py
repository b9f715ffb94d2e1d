"""``track.persistence.storage`` (seed API): the file store as objects, kept in
:mod:`track.compat.storage`."""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = dict.fromkeys(("LocalStorage", "load_database"), "track.compat.storage")
__all__ = list(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
