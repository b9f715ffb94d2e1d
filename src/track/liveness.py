"""Heartbeats: how a reader tells a running trial from one whose process was killed.

While a trial runs, the write pipeline stores ``metadata.heartbeat`` (epoch seconds) every
``metadata.heartbeat_interval`` seconds. A trial whose stored status is Running but whose last
heartbeat is older than ``STALE_AFTER_INTERVALS`` intervals is reported as Interrupted, so that a
search worker can pick it up again. The stored status is left as it is: the rule is applied by
every reader, in memory and in SQL, with the same constants.
"""

from __future__ import annotations

import time
from typing import Any

from track.structure import Status

__all__ = ["STALE_AFTER_INTERVALS", "effective_status_doc", "is_stale"]

STALE_AFTER_INTERVALS = 3
HEARTBEAT_KEY = "heartbeat"
INTERVAL_KEY = "heartbeat_interval"


def is_stale(metadata: dict[str, Any], now: float | None = None) -> bool:
    """True when a heartbeat was recorded and is older than the allowed number of intervals."""
    beat = metadata.get(HEARTBEAT_KEY)
    interval = metadata.get(INTERVAL_KEY)
    if not isinstance(beat, (int, float)) or not isinstance(interval, (int, float)):
        return False
    now = time.time() if now is None else now
    return now - beat > STALE_AFTER_INTERVALS * interval


def effective_status_doc(doc: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """The trial document a reader should see: Running with a stale heartbeat reads Interrupted."""
    status = doc.get("status") or {}
    if status.get("value") == Status.Running.value and is_stale(doc.get("metadata") or {}, now):
        return {
            **doc,
            "status": {"name": Status.Interrupted.name, "value": Status.Interrupted.value},
        }
    return doc
