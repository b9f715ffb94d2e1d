"""Four real ranks on torch.distributed (gloo): default, all-ranks and separate modes, reduce."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from optional import require

torch = require("torch", reason="needs torch (pip install track[dist])")
mp = require("torch.multiprocessing")

from track.persistence import get_protocol  # noqa: E402

WORLD = 4
STEPS = 5


def local_loss(rank: int, step: int) -> float:
    """The loss rank ``rank`` logs at ``step`` (distinct on every rank and step)."""
    return 1.0 / (step + 1) + 0.1 * rank * rank


def _worker(rank: int, port: int, folder: str) -> None:
    import torch.distributed as dist

    from track import TrackClient

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    for mode in ("zero", "all", "separate"):
        client = TrackClient(f"file://{folder}/{mode}.json", ranks=mode)
        trial = client.new_trial(name="ddp", parameters={"lr": 0.1})
        trial.start()
        for step in range(STEPS):
            trial.log_metrics(step=step, loss=local_loss(rank, step), acc=float(rank), reduce=True)
        trial.finish()
        client.close()
        dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the four ranks once; each mode leaves its own store file."""
    folder = tmp_path_factory.mktemp("gloo")
    mp.start_processes(
        _worker, args=(_free_port(), str(folder)), nprocs=WORLD, start_method="spawn"
    )
    return folder


def _trials(folder: Path, mode: str) -> list:
    return get_protocol(f"file://{folder}/{mode}.json").fetch_trials({})


def test_default_mode_writes_rank0_only(stores: Path) -> None:
    """Default mode: one trial holding rank 0's points only, with world size 4 in its metadata."""
    [trial] = _trials(stores, "zero")
    assert [p[1] for p in trial.metrics["loss"]] == [local_loss(0, s) for s in range(STEPS)]
    assert trial.metadata["rank"] == 0 and trial.metadata["world_size"] == WORLD
    assert not any("rank" in name for name in trial.metrics)


def test_reduce_matches_numpy(stores: Path) -> None:
    """reduce=True records mean/min/max/std equal to numpy's over the four ranks' values."""
    [trial] = _trials(stores, "zero")
    for step in range(STEPS):
        values = np.array([local_loss(r, step) for r in range(WORLD)])
        for stat, expected in [
            ("mean", values.mean()),
            ("min", values.min()),
            ("max", values.max()),
            ("std", values.std()),
        ]:
            assert trial.metrics[f"loss/{stat}"][step][1] == pytest.approx(expected, abs=1e-12)
        assert trial.metrics["acc/mean"][step][1] == pytest.approx(1.5)


def test_all_mode_records_every_rank(stores: Path) -> None:
    """All-ranks mode: one trial with each rank's points under loss/rank<r>."""
    [trial] = _trials(stores, "all")
    for rank in range(WORLD):
        points = trial.metrics[f"loss/rank{rank}"]
        assert [p[1] for p in points] == [local_loss(rank, s) for s in range(STEPS)]
    assert len(trial.metrics["loss/mean"]) == STEPS


def test_separate_mode_one_trial_per_rank_in_one_group(stores: Path) -> None:
    """Separate mode: four trials, each with its rank in name and parameters, in one group."""
    trials = _trials(stores, "separate")
    assert sorted(t.parameters["rank"] for t in trials) == list(range(WORLD))
    assert len({t.group_id for t in trials}) == 1 and trials[0].group_id is not None
    for trial in trials:
        rank = trial.parameters["rank"]
        assert trial.name == f"ddp-rank{rank}"
        assert [p[1] for p in trial.metrics["loss"]] == [local_loss(rank, s) for s in range(STEPS)]
        assert json.dumps(trial.metadata["rank"]) == str(rank)
