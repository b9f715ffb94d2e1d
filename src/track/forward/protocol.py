"""A store wrapper that hands every accepted batch to forwarders (wandb, MLflow, CSV, ...).

:class:`ForwardingProtocol` delegates every Protocol method to the wrapped track store. After
the store's ``log_trial_batch`` succeeded it gives the same batch to each live forwarder in a
guarded call: this runs on the write pipeline's flusher thread, never in the training loop.
Inside, the forwarder skips an item it cannot take with a warning (see track.forward.base); a
forwarder that is broken (its run cannot start, or it failed several items in a row) is
reported (a ``track.forward`` warning), disabled, and the fact is appended to the trial's
``errors`` in the store, so the run does not read as clean. The store and the other forwarders
carry on, like sacred's observers.

Edits (``set_trial_display``, ``remove_trial_tags``, ``delete_trials``, ``delete_group`` and
``delete_project``) are applied to the store first; once it succeeded, each live forwarder that
forwarded an edited trial in this process gets the edit (:meth:`Forwarder.edit
<track.forward.base.Forwarder.edit>`), guarded the same way. See docs/forwarding.md, "Edits".
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from track.forward.base import DELETION, DISPLAY, TAG_REMOVAL, Forwarder, ForwarderBroken
from track.persistence.protocol import Protocol, TrialBatch
from track.persistence.wrapping import WrappingProtocol
from track.structure import Trial

__all__ = ["ForwardingProtocol", "record_trial_error", "report_skipped", "safe_call"]

log = logging.getLogger("track.forward")


def safe_call(forwarder: Forwarder, action: str, call: Callable[[], Any]) -> str | None:
    """Run ``call``; on error warn naming ``forwarder``, disable it and return the message.

    None when the call went through (or the forwarder was disabled already).
    """
    if not forwarder.enabled:
        return None
    try:
        call()
    except Exception as error:  # a forwarder must never break the run
        forwarder.enabled = False
        reason = (
            str(error) if isinstance(error, ForwarderBroken) else f"{type(error).__name__}: {error}"
        )
        message = (
            f"forwarder {forwarder.name!r} disabled while trying to {action}: {reason}; "
            "the track store and the other forwarders carry on"
        )
        log.warning("track: %s", message)
        with contextlib.suppress(Exception):
            forwarder.close()
        return message
    return None


def report_skipped(forwarder: Forwarder, where: str) -> None:
    """One closing warning counting the items ``forwarder`` skipped, if it skipped any.

    A disabled forwarder was reported when it was disabled and gets none. ``where`` tells
    where the skipped items can still be found.
    """
    if forwarder.enabled and forwarder.skipped:
        counts = ", ".join(f"{n} x {k}" for k, n in sorted(forwarder.skipped.items()))
        log.warning(
            "track: forwarder %r did not forward %d items (%s); %s",
            forwarder.name,
            sum(forwarder.skipped.values()),
            counts,
            where,
        )


def record_trial_error(store: Protocol, trial: Trial, message: str) -> None:
    """Append ``message`` to the trial's ``errors`` in ``store`` (a warning if even that fails).

    Used when a forwarder or tracker backend is disabled: the trial's status stays as it is,
    and its errors tell that one of its copies is incomplete.
    """
    try:
        store.log_trial_batch(trial, TrialBatch(errors=[f"track: {message}"]))
    except Exception as error:  # the store's own failures are the pipeline's to report
        log.warning(
            "track: could not record on trial %s that %s (%s: %s)",
            trial.uid,
            message,
            type(error).__name__,
            error,
        )


def _trial_of(uid: str) -> Trial | None:
    """A trial that names the stored trial ``uid`` (``<hash>_<revision>``), to record on it."""
    hash_, _, revision = uid.rpartition("_")
    if not hash_ or not revision.isdigit():
        return None
    return Trial(_hash=hash_, revision=int(revision))


class ForwardingProtocol(WrappingProtocol):
    """The wrapped store, plus a copy of every accepted batch to each live forwarder.

    Every Protocol member goes to the store (:class:`WrappingProtocol`); ``log_trial_batch``
    (forward after the store applied it), the edits (forwarded after the store applied them)
    and ``close`` (end the forwarders first) differ. The store's own attributes (``path``,
    ...) are read on :attr:`store`, not on the wrapper.
    """

    def __init__(self, store: Protocol, forwarders: Sequence[Forwarder]) -> None:
        super().__init__(store)
        self.forwarders = list(forwarders)
        self._lock = threading.Lock()
        self._last_trial: Trial | None = None

    @property
    def store(self) -> Protocol:
        """The wrapped track store (``inner``): errors recorded there are not forwarded."""
        return self.inner

    def _guarded(self, trial: Trial | None, forwarder: Forwarder, action: str, call: Any) -> None:
        """``safe_call``; a forwarder it disables is recorded in ``trial``'s errors."""
        message = safe_call(forwarder, action, call)
        if message is not None and trial is not None:
            record_trial_error(self.inner, trial, message)

    def log_trial_batch(self, trial: Trial, batch: TrialBatch) -> bool:
        """Apply the batch to the store, then forward it (unless the store had it already)."""
        if self.inner.log_trial_batch(trial, batch) is False:
            return False
        with self._lock:
            self._last_trial = trial
            for forwarder in self.forwarders:
                self._guarded(trial, forwarder, "log", lambda f=forwarder: f.handle(trial, batch))
        return True

    def set_trial_display(self, uid: str, name: str | None = None, note: str | None = None) -> None:
        """Set the display name and note in the store, then on the trial's forwarded runs."""
        self.inner.set_trial_display(uid, name, note)
        if name is not None or note is not None:
            self._forward_edit(DISPLAY, uid, lambda f: f.set_display(uid, name, note))

    def remove_trial_tags(self, uid: str, names: Sequence[str]) -> None:
        """Remove the tags in the store, then from the trial's forwarded runs."""
        names = list(names)
        self.inner.remove_trial_tags(uid, names)
        if names:
            self._forward_edit(TAG_REMOVAL, uid, lambda f: f.remove_tags(uid, names))

    def delete_trials(self, uids: Sequence[str]) -> int:
        """Delete the trials from the store, then tell the forwarders that forwarded them."""
        uids = list(uids)
        count = self.inner.delete_trials(uids)
        for uid in dict.fromkeys(uids):
            self._forward_deletion(uid)
        return count

    def delete_group(self, uid: str, trials: bool = False) -> int:
        """Delete the group from the store, then forward the deletion of its forwarded trials."""
        count = self.inner.delete_group(uid, trials)
        if count:
            self._forward_deletions()
        return count

    def delete_project(self, uid: str, trials: bool = False) -> int:
        """Delete the project from the store, then forward the deletion of its forwarded trials."""
        count = self.inner.delete_project(uid, trials)
        if count:
            self._forward_deletions()
        return count

    def _forward_deletions(self) -> None:
        """Forward the deletion of every forwarded trial the store no longer holds."""
        with self._lock:
            known = sorted({uid for f in self.forwarders if f.enabled for uid in f.forwarded})
        if not known:
            return
        try:
            held = self.inner.fetch_trials({"uid": {"$in": known}}, with_metrics=False)
        except Exception as error:  # the deletion is done: it must not read as failed
            log.warning(
                "track: the deletion is done in the track store, but which forwarded trials "
                "it deleted could not be read (%s: %s); the forwarders were not told",
                type(error).__name__,
                error,
            )
            return
        kept = {trial.uid for trial in held}
        for uid in known:
            if uid not in kept:
                self._forward_deletion(uid)

    def _forward_deletion(self, uid: str) -> None:
        """Tell the forwarders that forwarded trial ``uid`` that the store deleted it."""
        self._forward_edit(DELETION, uid, lambda f: f.delete(uid))

    def _forward_edit(self, kind: str, uid: str, call: Callable[[Forwarder], Any]) -> None:
        """Hand one edit the store applied to each live forwarder that forwarded trial ``uid``.

        A forwarder this disables is recorded in the errors of the edited trial (unless it was
        deleted) and of the trial the forwarder was following (its copy stops there).
        """
        edited = None if kind == DELETION else _trial_of(uid)
        with self._lock:
            for forwarder in self.forwarders:
                if not forwarder.enabled or uid not in forwarder.forwarded:
                    continue
                following = forwarder.current
                edit = functools.partial(call, forwarder)
                message = safe_call(
                    forwarder,
                    f"forward the {kind} of trial {uid}",
                    functools.partial(forwarder.edit, kind, uid, edit),
                )
                if message is None:
                    continue
                hit = [t for t in (edited, following) if t is not None]
                gone = uid if kind == DELETION else None
                for trial in dict.fromkeys(t for t in hit if t.uid != gone):
                    record_trial_error(self.inner, trial, message)

    def close(self) -> None:
        """End every forwarder's current trial, close the forwarders, then the store.

        A forwarder that skipped items (and is still enabled: a disabled one was reported
        when it was disabled) gets one closing warning counting them.
        """
        with self._lock:
            for forwarder in self.forwarders:
                trial = forwarder.current or self._last_trial
                self._guarded(trial, forwarder, "finish its run", forwarder.finish_current)
                self._guarded(trial, forwarder, "close", forwarder.close)
                report_skipped(forwarder, "the track store has them")
        self.inner.close()
