"""``track.utils.system`` (seed API): ``get_gpu_name``, kept in :mod:`track.compat.system`."""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = {"get_gpu_name": "track.compat.system"}
__all__ = list(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
