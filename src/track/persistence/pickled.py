"""``pickled://path``: a binary snapshot of a whole store, written with :mod:`pickle`.

The file is the user's own. Never load one from an untrusted source: unpickling runs code.
"""

from __future__ import annotations

import pickle
from typing import Any

from track.persistence.local import FileProtocol

__all__ = ["PickledProtocol"]


class PickledProtocol(FileProtocol):
    """A file store whose file is a pickle of the state instead of JSON."""

    def _decode(self, data: bytes) -> dict[str, Any]:
        return pickle.loads(data)

    def _encode(self) -> bytes:
        return pickle.dumps(self._state, protocol=pickle.HIGHEST_PROTOCOL)
