"""``pickled://path``: a binary snapshot of a whole store, written with :mod:`pickle`.

It shares the ``file://`` store's locking, reloading and all-or-nothing writes, but has no
journal: every write rewrites the whole pickle (atomically: temporary file, fsync, rename), so
a flush costs the size of the store. It is a snapshot format; use ``file://`` or ``sqlite://``
for long runs.

The file is the user's own. Never load one from an untrusted source: unpickling runs code.
"""

from __future__ import annotations

import pickle
from typing import Any

from track.errors import UnusableStore
from track.persistence.local import FileProtocol

__all__ = ["PickledProtocol"]


class PickledProtocol(FileProtocol):
    """A file store whose file is a pickle of the state instead of JSON, rewritten per write."""

    journaled = False

    def _decode(self, data: bytes) -> dict[str, Any]:
        try:
            state = pickle.loads(data)
        except (pickle.UnpicklingError, EOFError) as error:
            raise UnusableStore(f"{self.path} is not a track store pickle: {error}") from None
        if not isinstance(state, dict) or "trials" not in state:
            raise UnusableStore(f"{self.path} is not a track store pickle")
        return state

    def _encode(self, held: dict[str, Any] | None) -> bytes:
        return pickle.dumps(self._state, protocol=pickle.HIGHEST_PROTOCOL)
