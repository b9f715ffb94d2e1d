"""What a trial ran on, captured once per trial into its metadata under ``environment``.

The machine part (Python, platform, CPU, memory, GPUs, installed distributions) cannot change
while a process runs and is computed once per process; the command line, working directory,
imported framework versions and git state are read for each trial. The command line is stored
with its secrets hidden (URI passwords, ``--password X``, ``token=X``: see
:func:`track.persistence.utils.redact_argv`), since every user of the store can read it. Only
the standard library is needed (psutil and NVML add nothing here but GPU details).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import socket
import sys
from typing import Any

from track.persistence.utils import redact_argv
from track.structure import Trial
from track.system.gpu import nvml_gpus
from track.versioning import get_git_branch

__all__ = ["capture_environment", "installed_distributions"]

MB = 1024 * 1024

#: Frameworks whose version is recorded when the script has imported them (never imported here).
FRAMEWORKS = ("numpy", "torch", "jax", "tensorflow")


def capture_environment(trial: Trial | None = None) -> dict[str, Any]:
    """The trial's environment document (keys in docs/system-metrics.md); git from its metadata."""
    metadata = trial.metadata if trial is not None else {}
    commit = metadata.get("git_commit")
    git = None
    if commit is not None:
        git = {"commit": commit, "branch": get_git_branch(), "dirty": metadata.get("git_dirty")}
    return {
        **_machine(),
        "frameworks": _frameworks(),
        "argv": redact_argv(sys.argv),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "git": git,
        "packages": installed_distributions(),
    }


@functools.cache
def _distributions() -> tuple[tuple[str, str | None], ...]:
    found: dict[str, str | None] = {}
    for dist in importlib.metadata.distributions():
        name, version = _name_and_version(dist)
        if name and name not in found:  # the first on sys.path is the one imported
            found[name] = version
    return tuple(sorted(found.items(), key=lambda item: item[0].lower()))


def _name_and_version(dist: importlib.metadata.Distribution) -> tuple[str | None, str | None]:
    """Name and Version from the metadata headers: 8x faster than ``dist.metadata``'s parser."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.splitlines():
        if not line or (name and version):
            break
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return name, version


def installed_distributions() -> dict[str, str | None]:
    """Installed distributions (name to version) from ``importlib.metadata``, read once a process."""
    return dict(_distributions())


@functools.cache
def _machine() -> dict[str, Any]:
    gpus = nvml_gpus()
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu": {"model": _cpu_model(), "count": os.cpu_count()},
        "memory_total_mb": _memory_total_mb(),
        "gpu": gpus.describe() if gpus is not None else None,
    }


def _frameworks() -> dict[str, Any]:
    versions: dict[str, Any] = {}
    for name in FRAMEWORKS:
        module = sys.modules.get(name)
        if module is not None:
            version = getattr(module, "__version__", None)
            # a plain str: torch's TorchVersion is a str subclass that marshal refuses
            versions[name] = None if version is None else str(version)
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch_cuda"] = getattr(getattr(torch, "version", None), "cuda", None)
    return versions


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _memory_total_mb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MB
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    return psutil.virtual_memory().total / MB
