"""A 2-process ``ddp`` fit on CPU (gloo) logging to the store named by argv[1].

Lightning's subprocess launcher runs this script again for rank 1, so it must be a file.
"""

from __future__ import annotations

import sys

import lightning as L
import torch

from track.integrations.lightning import TrackLogger


class Tiny(L.LightningModule):
    """A linear regression on random tensors."""

    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


if __name__ == "__main__":
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=1,
        log_every_n_steps=1,
        logger=TrackLogger(uri=sys.argv[1], project="ddp"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=sys.argv[2],
    )
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=4))
