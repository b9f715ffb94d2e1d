"""Memory helpers for bulk work on millions of small objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects (points, rows).

    Each young-generation collection would otherwise walk every tuple just created; the
    objects built here hold no cycles, so the pause frees nothing late. The collector's
    previous state is restored.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
