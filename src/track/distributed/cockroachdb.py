"""``track.distributed.cockroachdb`` (seed API): the CockroachDB node launcher, kept in
:mod:`track.compat.cockroachdb`."""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = dict.fromkeys(
    ("CockRoachDB", "CockroachDB", "CockroachNotFound"), "track.compat.cockroachdb"
)
__all__ = list(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
