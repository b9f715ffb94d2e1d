"""A daemon thread that logs what the machine does while a trial runs, as ordinary metrics.

Every ``interval`` seconds it reads psutil (:mod:`track.system.host`) and NVML
(:mod:`track.system.gpu`) and calls ``log(step=time.time(), **{"system/...": value})``, the
trial logger's ``log_metrics``: an append to the write pipeline, never a store write, and never
on the training loop's thread. Stopping takes a last sample, so a trial shorter than the
interval still has one point.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from track.system.gpu import nvml_gpus
from track.system.host import host_probe

__all__ = ["SystemSampler", "start_sampler"]

log = logging.getLogger("track.system")

#: A last sample at stop is taken only if the previous one is at least this old (CPU % needs a window).
MIN_WINDOW = 0.05

Reader = Callable[[], dict[str, float]]


class SystemSampler:
    """Samples system metrics into ``log`` every ``interval`` seconds from its own daemon thread."""

    def __init__(self, log: Callable[..., Any], interval: float, disk_path: str) -> None:
        if interval <= 0:
            raise ValueError(f"the sampling interval must be positive, not {interval}")
        self.log = log
        self.interval = interval
        self.disk_path = disk_path
        self.samples = 0
        self._readers: list[Reader] = []
        self._last = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="track-system", daemon=True)

    def start(self) -> SystemSampler:
        """Start sampling; the probes are built on the sampler's thread, not the caller's."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Take a last sample and wait for the thread, so its samples precede a final flush."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def read(self) -> dict[str, float]:
        """One reading of every probe; a reader that fails is reported once and dropped."""
        values: dict[str, float] = {}
        for reader in list(self._readers):
            try:
                values.update(reader())
            except Exception as error:  # a probe must never break the trial
                log.warning(
                    "system metrics: %s failed (%s: %s); no longer sampled",
                    getattr(reader, "__name__", reader),
                    type(error).__name__,
                    error,
                )
                self._readers.remove(reader)
        return values

    def prepare(self) -> None:
        """Build and prime the probes (psutil, NVML); ``start`` does it on the sampler's thread."""
        host = host_probe(self.disk_path)
        gpus = nvml_gpus()
        self._readers = [*(host.readers() if host else ()), *([gpus.sample] if gpus else ())]

    def _run(self) -> None:
        self.prepare()
        self._last = due = time.monotonic()
        while self._readers:
            # A fixed schedule (the time a sample takes does not add up), never a burst to catch up.
            due = max(due + self.interval, time.monotonic())
            if self._stopping.wait(max(0.0, due - time.monotonic())):
                if time.monotonic() - self._last >= MIN_WINDOW:
                    self._record()
                return
            if not self._record():
                return

    def _record(self) -> bool:
        values = self.read()
        self._last = time.monotonic()
        if not values:
            return True
        try:
            self.log(step=time.time(), **values)
        except Exception as error:  # e.g. the pipeline died: stop sampling, not the trial
            log.warning("system metrics: stopped sampling (%s: %s)", type(error).__name__, error)
            return False
        self.samples += 1
        return True


def start_sampler(
    log: Callable[..., Any], interval: float, folder: str | None
) -> SystemSampler | None:
    """A running sampler calling ``log(step=..., **metrics)``, or None when ``interval`` is 0.

    ``folder`` is the one whose disk usage is reported: the store's (``Protocol.folder``),
    else (None) the working directory.
    """
    if interval <= 0:
        return None
    return SystemSampler(log, interval, folder or os.getcwd()).start()
