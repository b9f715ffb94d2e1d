"""``track.utils.debug`` (seed API): ``print_stack``, kept in :mod:`track.compat.debug`."""

from __future__ import annotations

from track.compat.debug import print_stack

__all__ = ["print_stack"]
