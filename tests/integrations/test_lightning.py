"""The Lightning logger, with a real Trainer on CPU: what a fit leaves in the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from optional import require

L = require("lightning")
torch = require("torch")

from track.integrations.lightning import TrackLogger  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.structure import Status, Trial  # noqa: E402

HERE = Path(__file__).resolve().parent


class Tiny(L.LightningModule):  # type: ignore[misc,name-defined]
    """A linear regression on random tensors; ``fail_at`` makes a training step raise."""

    def __init__(self, lr: float = 0.1, width: int = 4, fail_at: int = -1) -> None:
        super().__init__()
        self.save_hyperparameters({"lr": lr, "layer": {"width": width}, "fail_at": fail_at})
        self.layer = torch.nn.Linear(width, 1)

    def training_step(self, batch: Any, index: int) -> Any:
        if self.global_step == self.hparams.fail_at:
            raise RuntimeError("diverged")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def fit(uri: str, root: Path, model: Any, **logger: Any) -> TrackLogger:
    """Fit ``model`` for 2 epochs of 4 batches with a TrackLogger on ``uri``."""
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    track_logger = TrackLogger(uri=uri, project="lightning", **logger)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        log_every_n_steps=1,
        logger=track_logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    try:
        trainer.fit(model, loader, loader)
    finally:
        track_logger.close()
    return track_logger


def only_trial(uri: str) -> Trial:
    """The one trial of the store, as a fresh reader sees it."""
    protocol = get_protocol(uri)
    try:
        (trial,) = protocol.fetch_trials({})
        return trial
    finally:
        protocol.close()


def test_fit_records_metrics_hyperparameters_and_completion(tmp_path: Path) -> None:
    """Every train step's loss, each epoch's val_loss, the flat hparams and Completed are stored."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    fit(uri, tmp_path, Tiny(), group="sweep", tags={"kind": "test"})
    trial = only_trial(uri)
    assert trial.parameters == {"lr": 0.1, "layer.width": 4, "fail_at": -1}
    assert trial.status is Status.Completed
    assert trial.tags == {"kind": "test"}
    assert [p[0] for p in trial.metrics["train_loss"]] == list(range(8))
    assert [p[0] for p in trial.metrics["val_loss"]] == [3, 7]
    assert [p[1] for p in trial.metrics["epoch"]][-1] == 1
    assert trial.metadata["checkpoints"]["best_model_path"].endswith(".ckpt")
    assert len(trial.groups) == 1


def test_checkpoints_are_stored_as_artifacts_when_asked(tmp_path: Path) -> None:
    """log_checkpoints=True: each checkpoint Lightning saved (one per epoch here) is an artifact,
    kept after Lightning deletes the older file; the best one byte for byte."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    fit(uri, tmp_path, Tiny(), log_checkpoints=True)
    trial = only_trial(uri)
    saved = Path(trial.metadata["checkpoints"]["best_model_path"])
    protocol = get_protocol(uri)
    try:
        names = [a.name for a in protocol.list_artifacts(trial)]
        assert names == ["checkpoints/epoch=0-step=4.ckpt", f"checkpoints/{saved.name}"]
        stored = b"".join(protocol.open_artifact(trial, f"checkpoints/{saved.name}"))
    finally:
        protocol.close()
    assert stored == saved.read_bytes()


def test_failed_fit_ends_in_exception(tmp_path: Path) -> None:
    """A training step that raises leaves the trial in Exception, its earlier points kept."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    with pytest.raises(RuntimeError, match="diverged"):
        fit(uri, tmp_path, Tiny(fail_at=2))
    trial = only_trial(uri)
    assert trial.status is Status.Exception
    assert [p[0] for p in trial.metrics["train_loss"]] == [0, 1]


def test_ddp_on_two_cpu_processes_writes_one_trial(tmp_path: Path) -> None:
    """A 2-process gloo ddp fit (Lightning relaunches the script) writes one trial, from rank 0."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent.parent / "src")}
    subprocess.run(
        [sys.executable, str(HERE / "lightning_ddp_script.py"), uri, str(tmp_path)],
        check=True,
        env=env,
        timeout=120,
        capture_output=True,
    )
    trial = only_trial(uri)
    assert trial.parameters == {"lr": 0.1}
    assert trial.status is Status.Completed
    # 32 samples split over 2 ranks in batches of 4: 4 optimizer steps, logged by rank 0
    assert [p[0] for p in trial.metrics["train_loss"]] == [0, 1, 2, 3]
