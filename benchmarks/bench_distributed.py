"""Distributed and forwarding costs: prints a table (run: python benchmarks/bench_distributed.py).

* ``log_metrics`` per call in one process (baseline) and on a muted non-zero rank;
* ``log_metrics(reduce=True)`` per call with 4 gloo ranks on this machine;
* each forwarder's added cost per log call (two metrics), paid on the flusher thread.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CALLS = 200_000
REDUCE_CALLS = 2_000
FORWARD_CALLS = 2_000


def per_call_muted(rank: str) -> float:
    """Seconds per log_metrics call in a fresh process with RANK=rank of 4."""
    code = (
        "import time, track\n"
        "c = track.TrackClient('ephemeral:')\n"
        "t = c.new_trial(name='b', parameters={'a': 1})\n"
        f"n = {CALLS}\n"
        "start = time.perf_counter()\n"
        "for i in range(n): t.log_metrics(step=i, loss=0.5)\n"
        "print((time.perf_counter() - start) / n)\n"
    )
    env = {**os.environ, "RANK": rank, "WORLD_SIZE": "4"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def _reduce_worker(rank: int, port: int, result: str) -> None:
    import torch.distributed as dist

    from track import TrackClient

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=4)
    trial = TrackClient("ephemeral:").new_trial(name="r", parameters={"a": 1})
    for i in range(50):
        trial.log_metrics(step=i, loss=0.5, acc=0.1, reduce=True)
    dist.barrier()
    start = time.perf_counter()
    for i in range(REDUCE_CALLS):
        trial.log_metrics(step=i, loss=0.5 + rank, acc=0.1, reduce=True)
    elapsed = (time.perf_counter() - start) / REDUCE_CALLS
    if rank == 0:
        Path(result).write_text(str(elapsed))
    dist.destroy_process_group()


def per_call_reduce() -> float:
    """Seconds per reduce=True call (two metrics) at 4 ranks on gloo."""
    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        result = os.path.join(folder, "r")
        mp.start_processes(_reduce_worker, args=(port, result), nprocs=4, start_method="spawn")
        return float(Path(result).read_text())


def forwarders(folder: Path) -> dict[str, Any]:
    """One of each forwarder whose library is installed, writing under ``folder``."""
    from track.forward.csv import CSVForwarder

    built: dict[str, Any] = {"csv": lambda: CSVForwarder(folder / "csv")}
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

    def mlflow() -> Any:
        from track.forward.mlflow import MLflowForwarder

        return MLflowForwarder(f"file://{folder / 'mlruns'}")

    def wandb() -> Any:
        from track.forward.wandb import WandbForwarder

        return WandbForwarder(mode="offline", dir=folder)

    def tensorboard() -> Any:
        from track.forward.tensorboard import TensorBoardForwarder

        return TensorBoardForwarder(folder / "tb")

    def comet() -> Any:
        from track.persistence.cometml import CometForwarder

        return CometForwarder("ws", "bench", offline_directory=str(folder / "comet"))

    built.update(mlflow=mlflow, wandb=wandb, tensorboard=tensorboard, comet=comet)
    return built


def per_call_forward(make: Any) -> float:
    """Seconds the forwarder adds per log call (two metrics), flushed every 100 calls."""
    from track.forward import ForwardingProtocol
    from track.persistence.protocol import TrialBatch
    from track.structure import Trial

    forwarder = make()
    proto = ForwardingProtocol(_NullStore(), [forwarder])
    trial = Trial(name="bench", parameters={"a": 1}, project_id="bench")
    proto.log_trial_batch(trial, TrialBatch(metadata={"warm": 1}))
    now = time.time()
    batches = []
    for first in range(0, FORWARD_CALLS, 100):
        points = []
        for step in range(first, first + 100):
            points += [("loss", step, 0.5, now + step), ("acc", step, 0.1, now + step)]
        batches.append(TrialBatch(metrics=points))
    start = time.perf_counter()
    for batch in batches:
        proto.log_trial_batch(trial, batch)
    elapsed = time.perf_counter() - start
    proto.close()
    return elapsed / FORWARD_CALLS


class _NullStore:
    """A store that takes every batch and does nothing (isolates the forwarder's cost)."""

    def log_trial_batch(self, trial: Any, batch: Any) -> None:
        """Accept."""

    def close(self) -> None:
        """Nothing to release."""


def main() -> None:
    """Measure and print the table."""
    rows = [
        ("log_metrics, single process (baseline)", per_call_muted("0") * 1e6),
        ("log_metrics, non-zero rank (muted)", per_call_muted("1") * 1e6),
    ]
    try:
        rows.append(("log_metrics(reduce=True), 4 ranks gloo, 2 metrics", per_call_reduce() * 1e6))
    except ImportError:
        rows.append(("log_metrics(reduce=True): torch not installed", float("nan")))
    with tempfile.TemporaryDirectory() as folder:
        for name, make in forwarders(Path(folder)).items():
            try:
                cost = per_call_forward(make) * 1e6
            except ImportError as error:
                print(f"skipping {name}: {error}")
                continue
            rows.append((f"forwarder {name}: added per log call (flusher thread)", cost))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  µs/call")
    for label, value in rows:
        print(f"{label.ljust(width)}  {value:8.2f}")


if __name__ == "__main__":
    main()
