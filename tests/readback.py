"""Reading a trial back as a fresh reader would, for tests that log from another process."""

from __future__ import annotations

from track.persistence import get_protocol
from track.structure import Trial


def stored_trial(uri: str, uid: str) -> Trial:
    """The trial ``uid`` as a fresh store object on ``uri`` sees it."""
    protocol = get_protocol(uri)
    try:
        hash_, _, revision = uid.rpartition("_")
        (trial,) = protocol.get_trial(Trial(_hash=hash_, revision=int(revision)))
        return trial
    finally:
        protocol.close()
