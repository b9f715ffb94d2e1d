"""The forwarder interface: what a fan-out target (wandb, MLflow, CSV, ...) implements.

A forwarder receives, on the pipeline's flusher thread, every batch the track store accepted.
It implements :meth:`Forwarder.log_rows` (metric points grouped by log call) and may override
:meth:`Forwarder.start`, :meth:`Forwarder.log_metadata`, :meth:`Forwarder.log_media` and
:meth:`Forwarder.end`. The base class turns batches into these calls, one *item* at a time (a
batch's rows, its metadata, each table, image or artifact, the end of the run), and tells a
failed item from a broken forwarder:

* an item the forwarder cannot take because of what it holds (:class:`ItemError`, or a
  ``TypeError``/``ValueError`` that is not an ``OSError``) is skipped with a warning (once per
  kind of item and error; a count at close) and never disables the forwarder;
* any other error (I/O, network, a dead run) counts as a failure; after
  :data:`MAX_CONSECUTIVE_FAILURES` of them in a row on one kind of item (metrics, metadata,
  images, ...; a success of that kind resets it), or when :meth:`Forwarder.start` fails,
  :class:`ForwarderBroken` is raised and the forwarding protocol disables the forwarder and
  records it in the trial's errors.

Edits made in track after the fact (a rename or note, removed tags, a deleted trial; see
:class:`~track.forward.protocol.ForwardingProtocol`) reach the runs a forwarder made for the
trial in this process, through :meth:`Forwarder.edit`: the forwarder applies those of
:data:`EDITS` it lists in :attr:`Forwarder.edits` and leaves its copy as it was for the others.
An edit is guarded like an item: refused (:class:`ItemError`), it is skipped with a warning and
counted; failing, it counts toward disabling the forwarder.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from track.errors import InvalidValue, TrackError
from track.persistence.protocol import TrialBatch
from track.structure import Trial

__all__ = [
    "DELETION",
    "DISPLAY",
    "EDITS",
    "MAX_CONSECUTIVE_FAILURES",
    "MEDIA_KINDS",
    "TAG_REMOVAL",
    "Forwarder",
    "ForwarderBroken",
    "ItemError",
    "Row",
    "flatten",
    "is_value_error",
    "rows_of",
]

log = logging.getLogger("track.forward")

#: Metadata keys holding tables, images and artifacts (see docs/forwarding.md for the layout).
MEDIA_KINDS = ("tables", "images", "artifacts")
#: Statuses whose value is at least this end a trial (2xx errors, 3xx finished).
END_STATUS_VALUE = 200
#: A forwarder (or tracker backend) failing this many calls in a row, for reasons other than a
#: bad value, is taken as broken and disabled.
MAX_CONSECUTIVE_FAILURES = 3
#: The edits made in track after the fact that a forwarder may apply to the runs it made:
#: a new display name or note (``Protocol.set_trial_display``), removed tags
#: (``remove_trial_tags``), a deleted trial (``delete_trials``, ``delete_group``/``delete_project``
#: with their trials). Also the kinds of item they are counted as.
DISPLAY = "display name and note"
TAG_REMOVAL = "tag removal"
DELETION = "deletion"
EDITS = (DISPLAY, TAG_REMOVAL, DELETION)

Row = tuple[Any, float, dict[str, float]]


class ItemError(InvalidValue):
    """One item (a table, an image, a value) that a forwarder cannot take; the others go on.

    Raise it from a forwarder method when the *content* is the problem (an image file that is
    not an image, a library missing for one kind of media); the base class then warns and
    carries on instead of counting it toward disabling the forwarder.
    """


class ForwarderBroken(TrackError, RuntimeError):
    """Raised by :meth:`Forwarder.handle` when the forwarder cannot go on (start failed, or
    :data:`MAX_CONSECUTIVE_FAILURES` failures in a row); the forwarding protocol disables it."""


def is_value_error(error: BaseException) -> bool:
    """True when ``error`` is about a value handed over, not about the target being broken.

    :class:`ItemError`, and ``TypeError``/``ValueError`` (track's ``UnserializableValue`` is a
    ``TypeError``) that are not also an ``OSError``.
    """
    return isinstance(error, (TypeError, ValueError)) and not isinstance(error, OSError)


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

    When a batch for another trial arrives, the current one is ended first. Each item of a
    batch is forwarded in its own guarded call (see the module docstring): an item that cannot
    be forwarded is skipped with a warning, a forwarder that keeps failing is disabled by
    :class:`~track.forward.protocol.ForwardingProtocol`, which records it on the trial.
    """

    name = "base"
    #: the :data:`EDITS` this forwarder applies to the runs it made; it leaves its copy as it
    #: was for the others (said once at info level)
    edits: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.enabled = True
        self.current: Trial | None = None
        self._sent: dict[tuple[str, str], str] = {}
        #: every trial this forwarder started a run for in this process (edits reach these
        #: only), by track uid, with what the target needs to reach each of its runs (a run
        #: id, ...; more than one when it followed another trial in between; see
        #: :meth:`remember`)
        self.forwarded: dict[str, list[Any]] = {}
        self._not_forwarded: set[str] = set()
        #: failures in a row by kind of item (skipped items not counted); a success of that
        #: kind resets its count, so a no-op success of another kind cannot hide a dead target
        self.failures: Counter[str] = Counter()
        #: items skipped or lost, by ``"<item kind>: <error type>"``
        self.skipped: Counter[str] = Counter()

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

    def set_display(self, uid: str, name: str | None, note: str | None) -> None:
        """Give the runs of trial ``uid`` its new display name and note (:data:`DISPLAY`).

        As in ``Protocol.set_trial_display``: None leaves a field as it is, "" removes it.
        """

    def remove_tags(self, uid: str, names: Sequence[str]) -> None:
        """Remove the named track tags from the runs of trial ``uid`` (:data:`TAG_REMOVAL`)."""

    def delete(self, uid: str) -> None:
        """Trial ``uid`` was deleted from the track store: act on its runs (:data:`DELETION`)."""

    @property
    def run_url(self) -> str | None:
        """Where the current run can be seen in the target's web UI (None: no run, or no UI)."""
        return None

    def describe(self) -> str | None:
        """One line telling the user where the current run goes (None: nothing to tell)."""
        return None

    # ---- driven by the forwarding protocol ------------------------------------------

    def remember(self, trial: Trial, handle: Any) -> None:
        """Record ``handle`` (what reaches the run: its id, ...) as a run of ``trial``.

        A forwarder that applies :attr:`edits` calls it from :meth:`start`.
        """
        self.forwarded.setdefault(trial.uid, []).append(handle)

    def edit(self, kind: str, uid: str, call: Callable[[], Any]) -> None:
        """Apply one edit of ``kind`` (of :data:`EDITS`) made in track to trial ``uid``'s runs.

        ``call`` is the forwarder's method for it (``set_display``, ...), run as one item
        (see :meth:`attempt`) when ``kind`` is among :attr:`edits`. A deleted trial's run that
        is still open is ended first (the trial gets nothing more), and the trial forgotten.
        """
        if kind == DELETION and self.current is not None and self.current.uid == uid:
            self.attempt("end of run", self.finish_current)
        if kind in self.edits:
            self.attempt(f"the {kind} of trial {uid}", call, kind=kind)
        elif kind not in self._not_forwarded:
            self._not_forwarded.add(kind)
            log.info(
                "track: forwarder %r does not forward a %s made in track: its copy of trial %s "
                "(and of any other trial) stays as it was",
                self.name,
                kind,
                uid,
            )
        if kind == DELETION:
            self.forwarded.pop(uid, None)

    def handle(self, trial: Trial, batch: TrialBatch) -> None:
        """Forward one batch the track store accepted, item by item.

        Raises :class:`ForwarderBroken` when the run cannot be started or the forwarder failed
        :data:`MAX_CONSECUTIVE_FAILURES` items in a row; a skipped item raises nothing.
        """
        if self.current is None or self.current.uid != trial.uid:
            self.finish_current()
            self.current = trial
            self._sent.clear()
            try:
                self.start(trial)
            except Exception as error:
                self.current = None
                raise ForwarderBroken(
                    f"could not start a run ({type(error).__name__}: {error})"
                ) from error
            self.forwarded.setdefault(trial.uid, [])
        if batch.series:
            self.attempt("metrics", lambda: self.log_rows(trial, rows_of(batch)))
        plain = {k: v for k, v in batch.metadata.items() if k not in MEDIA_KINDS}
        if plain:
            self.attempt("metadata", lambda: self.log_metadata(trial, plain))
        for kind in MEDIA_KINDS:
            for key, entry in (batch.metadata.get(kind) or {}).items():
                digest = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
                if self._sent.get((kind, key)) != digest:
                    call = functools.partial(self.log_media, trial, kind, key, entry)
                    if self.attempt(f"{kind} {key!r}", call, kind=kind):
                        self._sent[(kind, key)] = digest
        status = batch.status
        if status is not None and int(status.get("value") or 0) >= END_STATUS_VALUE:
            self.current = None
            self.attempt("end of run", lambda: self.end(trial, status))

    def attempt(self, what: str, call: Callable[[], Any], kind: str | None = None) -> bool:
        """Forward one item; True when it is settled (sent, or skipped for its content).

        A value error (:func:`is_value_error`) skips the item with a warning; any other error
        is a failure, warned and counted, and the :data:`MAX_CONSECUTIVE_FAILURES`-th in a row
        of one kind raises :class:`ForwarderBroken`. ``kind`` groups warnings and counts
        (default: ``what``).
        """
        group = kind or what
        try:
            call()
        except Exception as error:
            label = f"{group}: {type(error).__name__}"
            self.skipped[label] += 1
            if is_value_error(error):
                if self.skipped[label] == 1:
                    log.warning(
                        "track: forwarder %r could not forward %s (%s: %s); it is skipped and "
                        "the forwarder carries on (warned once per kind of item and error)",
                        self.name,
                        what,
                        type(error).__name__,
                        error,
                    )
                return True
            self.failures[group] += 1
            count = self.failures[group]
            if count >= MAX_CONSECUTIVE_FAILURES:
                last = "" if what == group else f", the last on {what}"
                raise ForwarderBroken(
                    f"{count} failures in a row on {group}{last} ({type(error).__name__}: {error})"
                ) from error
            if self.skipped[label] == 1:
                log.warning(
                    "track: forwarder %r failed on %s (%s: %s); that item is lost for it "
                    "(failure %d of %d in a row before it is disabled)",
                    self.name,
                    what,
                    type(error).__name__,
                    error,
                    count,
                    MAX_CONSECUTIVE_FAILURES,
                )
            return False
        self.failures.pop(group, None)
        return True

    def finish_current(self) -> None:
        """End the trial being followed, if any, without a final status."""
        if self.current is not None:
            trial, self.current = self.current, None
            self.end(trial, None)
