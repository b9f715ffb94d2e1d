"""Rank detection from each launcher's environment, and rank metadata on trials."""

from __future__ import annotations

import subprocess
import sys

import pytest

from track import TrackClient
from track.distributed import RankInfo, RankPolicy, detect_rank

CONVENTIONS = [
    ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, RankInfo(3, 4, 1, "torchrun")),
    (
        {
            "OMPI_COMM_WORLD_RANK": "2",
            "OMPI_COMM_WORLD_SIZE": "8",
            "OMPI_COMM_WORLD_LOCAL_RANK": "2",
        },
        RankInfo(2, 8, 2, "openmpi"),
    ),
    ({"PMI_RANK": "5", "PMI_SIZE": "6"}, RankInfo(5, 6, 0, "pmi")),
    ({"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "1"}, RankInfo(1, 2, 1, "slurm")),
    ({}, RankInfo(0, 1, 0, "default")),
]


@pytest.mark.parametrize(("environ", "expected"), CONVENTIONS)
def test_each_convention(environ: dict[str, str], expected: RankInfo) -> None:
    """Each launcher's variables give its rank, world size and local rank."""
    assert detect_rank(environ) == expected


def test_torchrun_wins_over_slurm() -> None:
    """torchrun's RANK is preferred when a job also has SLURM variables (torchrun inside srun)."""
    environ = {"RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}
    assert detect_rank(environ).source == "torchrun"


def test_detection_never_imports_torch() -> None:
    """Detecting the rank and logging on a muted rank import no torch (it may be absent)."""
    code = (
        "import sys, os\n"
        "os.environ.update(RANK='2', WORLD_SIZE='4')\n"
        "import track\n"
        "c = track.TrackClient('file://never.json')\n"
        "t = c.new_trial(name='x')\n"
        "t.log_metrics(step=0, loss=1.0)\n"
        "assert c.ranks.info.rank == 2 and c.ranks.muted\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert not os.path.exists('never.json'), 'a muted rank wrote the store'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_rank_recorded_in_metadata(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Rank 0 of four records rank, world size and the rank mode in the trial's metadata."""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "4")
    client = TrackClient(f"file://{tmp_path / 'store.json'}")
    trial = client.new_trial(name="meta", parameters={"a": 1})
    trial.log_metrics(step=0, loss=1.0)
    client.save()
    stored = client.protocol.get_trial(trial.trial)[0]
    assert stored.metadata["rank"] == 0
    assert stored.metadata["world_size"] == 4
    assert stored.metadata["rank_mode"] == "zero"


def test_unknown_mode_is_refused() -> None:
    """A mode other than zero/all/separate raises, naming the valid ones."""
    with pytest.raises(ValueError, match="zero, all, separate"):
        RankPolicy.detect("some")
