"""The forwarder interface: what a fan-out target (wandb, MLflow, CSV, ...) implements.

A forwarder receives, on the pipeline's flusher thread, every batch the track store accepted.
It implements :meth:`Forwarder.log_rows` (metric points grouped by log call) and may override
:meth:`Forwarder.start`, :meth:`Forwarder.log_metadata`, :meth:`Forwarder.log_media` and
:meth:`Forwarder.end`. The base class turns batches into these calls.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

from track.persistence.protocol import TrialBatch
from track.structure import Trial

__all__ = ["MEDIA_KINDS", "Forwarder", "Row", "flatten", "rows_of"]

#: Metadata keys holding tables, images and artifacts (see docs/forwarding.md for the layout).
MEDIA_KINDS = ("tables", "images", "artifacts")
#: Statuses whose value is at least this end a trial (2xx errors, 3xx finished).
END_STATUS_VALUE = 200

Row = tuple[Any, float, dict[str, float]]


def rows_of(batch: TrialBatch) -> list[Row]:
    """The batch's points as ``(step, time, {name: value})`` rows, one per log call, in time order.

    Points logged by one call share their step and time, which regroups them.
    """
    rows: list[Row] = []
    by_call: dict[tuple[Any, float], Row] = {}
    for name, step, value, when in batch.points():
        row = by_call.get((step, when))
        if row is None or name in row[2]:
            row = by_call[(step, when)] = (step, when, {})
            rows.append(row)
        row[2][name] = value
    rows.sort(key=lambda row: row[1])
    return rows


def table_csv(entry: dict[str, Any]) -> str:
    """A stored table (``{"columns": [...], "data": [[...], ...]}``) as CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(entry["columns"])
    writer.writerows(entry["data"])
    return buffer.getvalue()


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys (``{"opt": {"lr": 1}}`` -> ``{"opt.lr": 1}``)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


class Forwarder:
    """Base of every forwarder; one forwarder follows one trial at a time.

    When a batch for another trial arrives, the current one is ended first. A forwarder that
    raises is disabled by :class:`~track.forward.protocol.ForwardingProtocol` after one warning.
    """

    name = "base"

    def __init__(self) -> None:
        self.enabled = True
        self.current: Trial | None = None
        self._sent: dict[tuple[str, str], str] = {}

    # ---- what subclasses implement ---------------------------------------------------

    def start(self, trial: Trial) -> None:
        """Open a run for ``trial`` (its name, uid and parameters are set)."""

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """Record metric rows ``(step, time, {name: value})`` in logging order."""
        raise NotImplementedError(f"{type(self).__name__} must implement log_rows")

    def log_metadata(self, trial: Trial, metadata: dict[str, Any]) -> None:
        """Record metadata updates (media keys excluded); the default ignores them."""

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Record one new or changed table, image or artifact; the default ignores them."""

    def end(self, trial: Trial, status: dict[str, Any] | None) -> None:
        """Close the run of ``trial`` with its final status document (None: closed early)."""

    def close(self) -> None:
        """Release everything (after :meth:`end` of the current trial)."""

    # ---- driven by the forwarding protocol ------------------------------------------

    def handle(self, trial: Trial, batch: TrialBatch) -> None:
        """Forward one batch the track store accepted."""
        if self.current is None or self.current.uid != trial.uid:
            self.finish_current()
            self.current = trial
            self._sent.clear()
            self.start(trial)
        if batch.series:
            self.log_rows(trial, rows_of(batch))
        plain = {k: v for k, v in batch.metadata.items() if k not in MEDIA_KINDS}
        if plain:
            self.log_metadata(trial, plain)
        for kind in MEDIA_KINDS:
            for key, entry in (batch.metadata.get(kind) or {}).items():
                digest = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
                if self._sent.get((kind, key)) != digest:
                    self._sent[(kind, key)] = digest
                    self.log_media(trial, kind, key, entry)
        status = batch.status
        if status is not None and int(status.get("value") or 0) >= END_STATUS_VALUE:
            self.end(trial, status)
            self.current = None

    def finish_current(self) -> None:
        """End the trial being followed, if any, without a final status."""
        if self.current is not None:
            trial, self.current = self.current, None
            self.end(trial, None)
