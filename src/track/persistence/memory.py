"""``ephemeral://``: a store in this process's memory, for tests and scratch runs.

Writes are all-or-nothing like every document store's: a write that raises is rolled back
through the transaction's undo log (see :mod:`track.persistence.documents`), at the cost of a
few log entries per write, never a copy of the state.
"""

from __future__ import annotations

from track.persistence.documents import DocumentStore
from track.persistence.utils import URI, parse_uri

__all__ = ["EphemeralProtocol"]


class EphemeralProtocol(DocumentStore):
    """Keeps everything in memory; gone when the process ends."""

    def __init__(self, uri: str | URI = "ephemeral:") -> None:
        super().__init__()
        self.uri = parse_uri(uri)
