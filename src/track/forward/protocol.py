"""A store wrapper that hands every accepted batch to forwarders (wandb, MLflow, CSV, ...).

:class:`ForwardingProtocol` delegates every Protocol method to the wrapped track store. After
the store's ``log_trial_batch`` succeeded it gives the same batch to each live forwarder in a
guarded call: this runs on the write pipeline's flusher thread, never in the training loop.
Inside, the forwarder skips an item it cannot take with a warning (see track.forward.base); a
forwarder that is broken (its run cannot start, or it failed several items in a row) is
reported (a ``track.forward`` warning), disabled, and the fact is appended to the trial's
``errors`` in the store, so the run does not read as clean. The store and the other forwarders
carry on, like sacred's observers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from track.forward.base import Forwarder, ForwarderBroken
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


class ForwardingProtocol(WrappingProtocol):
    """The wrapped store, plus a copy of every accepted batch to each live forwarder.

    Every Protocol member goes to the store (:class:`WrappingProtocol`); only
    ``log_trial_batch`` (forward after the store applied it) and ``close`` (end the
    forwarders first) differ. The store's own attributes (``path``, ...) are read on
    :attr:`store`, not on the wrapper.
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
