"""CPU, memory, disk, network and file readings of this process and machine, through psutil.

psutil is imported only here (the ``[system]`` extra); without it :func:`host_probe` returns
None after one debug line, and sampling records GPU metrics only (if any).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["HostProbe", "host_probe"]

log = logging.getLogger("track.system")

MB = 1024 * 1024


class HostProbe:
    """psutil readings; each reader returns a few ``system/...`` values (see docs/system-metrics.md)."""

    def __init__(self, psutil: Any, disk_path: str) -> None:
        self.psutil = psutil
        self.disk_path = disk_path
        self.process = psutil.Process()
        # CPU percentages compare with the previous call: prime them so the first sample is real.
        self.process.cpu_percent(None)
        psutil.cpu_percent(None)
        start = psutil.net_io_counters()
        self.net_start = (start.bytes_sent, start.bytes_recv) if start else (0, 0)
        count = getattr(self.process, "num_fds", None) or self.process.num_handles
        self._descriptors = count

    def readers(self) -> list[Callable[[], dict[str, float]]]:
        """The reading functions, one per kind of value, so that one failing can be dropped."""
        return [self.cpu, self.memory, self.disk, self.network, self.files]

    def cpu(self) -> dict[str, float]:
        """Machine CPU % (all cores, 0-100) and process CPU % (of one core, like ``top``)."""
        return {
            "system/cpu_percent": self.psutil.cpu_percent(None),
            "system/process_cpu_percent": self.process.cpu_percent(None),
        }

    def memory(self) -> dict[str, float]:
        """Process resident memory and the machine's used and available memory, in MiB."""
        machine = self.psutil.virtual_memory()
        return {
            "system/process_rss_mb": self.process.memory_info().rss / MB,
            "system/memory_used_mb": machine.used / MB,
            "system/memory_available_mb": machine.available / MB,
        }

    def disk(self) -> dict[str, float]:
        """Used space (MiB and %) of the volume holding the store (or the working directory)."""
        usage = self.psutil.disk_usage(self.disk_path)
        return {"system/disk_used_mb": usage.used / MB, "system/disk_percent": usage.percent}

    def network(self) -> dict[str, float]:
        """Bytes the machine sent and received on all interfaces since sampling started."""
        counters = self.psutil.net_io_counters()
        if counters is None:
            return {}
        return {
            "system/net_sent_bytes": counters.bytes_sent - self.net_start[0],
            "system/net_recv_bytes": counters.bytes_recv - self.net_start[1],
        }

    def files(self) -> dict[str, float]:
        """Open file descriptors of the process (handles on Windows)."""
        return {"system/open_files": self._descriptors()}


def host_probe(disk_path: str) -> HostProbe | None:
    """A primed psutil probe, or None (with one debug line) when psutil is not installed."""
    try:
        import psutil
    except ImportError:
        log.debug(
            "no CPU/memory/disk metrics: psutil is not installed (pip install 'track[system]')"
        )
        return None
    return HostProbe(psutil, disk_path)
