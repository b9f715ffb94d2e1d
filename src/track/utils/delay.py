"""``track.utils.delay`` (seed API): delayed calls and futures, kept in :mod:`track.compat.delay`."""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = dict.fromkeys(
    ("DelayedCall", "Future", "FutureIsNotReady", "delay_call", "is_delayed_call"),
    "track.compat.delay",
)
__all__ = list(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
