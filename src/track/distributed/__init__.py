"""Rank awareness and cross-rank aggregates for distributed training.

:func:`detect_rank` answers "which process am I, out of how many?" from ``torch.distributed``
when it is initialized, else from the launcher's environment variables, in this order:
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (torchrun), ``OMPI_COMM_WORLD_RANK``/``..._SIZE``
(Open MPI), ``PMI_RANK``/``PMI_SIZE`` (MPICH, Intel MPI), ``SLURM_PROCID``/``SLURM_NTASKS``
(srun). Torch is never imported here: it is only consulted when the program already did.

:func:`reduce_metrics` turns each rank's local values into ``name/mean``, ``name/min``,
``name/max`` and ``name/std`` over all ranks with one collective (an ``all_gather`` of one
tensor holding every metric), whatever the number of metrics.
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RANK_MODES",
    "RankInfo",
    "RankPolicy",
    "detect_rank",
    "launch_id",
    "reduce_metrics",
    "shared_value",
    "torch_distributed",
]

#: How ranks log: only rank 0 ("zero"), all into one trial ("all"), one trial each ("separate").
RANK_MODES = ("zero", "all", "separate")

#: (rank, world size, local rank) variables of each launcher, first match wins.
ENVIRONMENT_CONVENTIONS = (
    ("torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"),
    ("openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
    ("pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"),
    ("slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
)


@dataclass(frozen=True)
class RankInfo:
    """This process's place in a distributed job, and where that was learnt from."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    source: str = "default"

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that writes in the default mode."""
        return self.rank == 0

    def to_metadata(self) -> dict[str, Any]:
        """The keys a trial records about its rank (``rank``, ``world_size``, ...)."""
        return {
            "rank": self.rank,
            "world_size": self.world_size,
            "local_rank": self.local_rank,
            "rank_source": self.source,
        }


def torch_distributed() -> Any:
    """``torch.distributed`` if the program imported it and initialized a process group."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def detect_rank(environ: Mapping[str, str] | None = None) -> RankInfo:
    """Rank, world size and local rank from torch.distributed, else the environment."""
    dist = torch_distributed()
    environ = os.environ if environ is None else environ
    if dist is not None:
        local = _int(environ.get("LOCAL_RANK"), 0)
        return RankInfo(dist.get_rank(), dist.get_world_size(), local, "torch.distributed")
    for source, rank_key, size_key, local_key in ENVIRONMENT_CONVENTIONS:
        rank = _int(environ.get(rank_key), None)
        if rank is None:
            continue
        size = _int(environ.get(size_key), rank + 1)
        return RankInfo(rank, max(size, rank + 1), _int(environ.get(local_key), 0), source)
    return RankInfo()


def _int(text: str | None, default: Any) -> Any:
    if text is None or not text.strip().lstrip("-").isdigit():
        return default
    return int(text)


def shared_value(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (one broadcast); ``value`` itself without a process group."""
    dist = torch_distributed()
    if dist is None:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def launch_id() -> str | None:
    """An id every rank of one launch agrees on: the launcher's job id, or rank 0's random id
    shared over torch.distributed; None when neither exists."""
    for key in ("TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid"):
        value = os.environ.get(key)
        if value and value != "none":
            return value
    if torch_distributed() is None:
        return None
    return str(shared_value(uuid.uuid4().hex[:12]))


@dataclass(frozen=True)
class RankPolicy:
    """How this process logs in a distributed job: ``mode`` is one of :data:`RANK_MODES`."""

    info: RankInfo
    mode: str = "zero"
    launch: str | None = None

    @classmethod
    def detect(cls, mode: str = "zero") -> RankPolicy:
        """The policy for this process (a collective when ``mode`` is "all" or "separate")."""
        if mode not in RANK_MODES:
            raise ValueError(f"ranks must be one of {', '.join(RANK_MODES)}, not {mode!r}")
        info = detect_rank()
        return cls(info, mode, launch_id() if mode != "zero" and info.world_size > 1 else None)

    @property
    def muted(self) -> bool:
        """True on a non-zero rank in the default mode: its log calls return at once."""
        return self.mode == "zero" and not self.info.is_main

    @property
    def suffix(self) -> str:
        """What "all" mode appends to each metric name (``/rank3``), else ``""``."""
        return f"/rank{self.info.rank}" if self.mode == "all" and self.info.world_size > 1 else ""

    @property
    def forwards(self) -> bool:
        """Whether this rank feeds forwarders: rank 0, or every rank in "separate" mode."""
        return self.info.is_main or self.mode == "separate"

    def metadata(self) -> dict[str, Any]:
        """What a trial records about the ranks (``rank``, ``world_size``, ``rank_mode``, ...)."""
        extra = {"launch_id": self.launch} if self.launch else {}
        return {**self.info.to_metadata(), "rank_mode": self.mode, **extra}

    def attach(self, trial: Any, insert: Any, protocol: Any, timeout: float = 60.0) -> Any:
        """In "all" mode: rank 0 inserts ``trial``, the others return the trial it stored."""
        dist = torch_distributed()
        if self.info.is_main:
            stored = insert(trial)
            if dist is not None:
                shared_value(stored.uid)
            return stored
        if dist is not None:
            found = _by_uid(protocol, trial, shared_value(None))
        elif self.launch is None:
            raise RuntimeError(
                "ranks='all' needs torch.distributed initialized or a launcher job id "
                "(TORCHELASTIC_RUN_ID, SLURM_JOB_ID, ...) to find rank 0's trial"
            )
        else:
            found = _poll(protocol, {"metadata.launch_id": self.launch}, timeout)
        return found


def _by_uid(protocol: Any, trial: Any, uid: str) -> Any:
    hash_, _, revision = uid.rpartition("_")
    trial._hash, trial.revision = hash_, int(revision)
    return protocol.get_trial(trial)[0]


def _poll(protocol: Any, query: dict[str, Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = protocol.fetch_trials(query, with_metrics=False)
        if found:
            return found[0]
        time.sleep(0.05)
    raise TimeoutError(f"rank 0's trial ({query}) did not appear within {timeout}s")


def reduce_metrics(values: Mapping[str, float]) -> dict[str, float]:
    """Every metric's mean, min, max and population std over the ranks, in one collective.

    Every rank must call it with the same metric names in the same order (it is a collective
    operation). Without an initialized process group the statistics are over this process alone.
    """
    names = list(values)
    dist = torch_distributed()
    if dist is None:
        rows = [[float(values[name]) for name in names]]
    else:
        import torch

        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        numbers = [float(values[name]) for name in names]
        local = torch.tensor(numbers, dtype=torch.float64, device=device)
        gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, local)
        rows = [tensor.tolist() for tensor in gathered]
    result: dict[str, float] = {}
    count = len(rows)
    for index, name in enumerate(names):
        column = [row[index] for row in rows]
        mean = math.fsum(column) / count
        result[f"{name}/mean"] = mean
        result[f"{name}/min"] = min(column)
        result[f"{name}/max"] = max(column)
        result[f"{name}/std"] = math.sqrt(math.fsum((x - mean) ** 2 for x in column) / count)
    return result
