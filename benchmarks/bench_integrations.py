"""Lightning logger overhead: track's TrackLogger next to Lightning's own loggers, same run.

Two figures per logger, the loggers taking turns (median of ``--repeats``) so that a change of
the machine's load falls on every row alike:

* ``call µs``: one ``logger.log_metrics({loss, acc, lr}, step)`` call, over ``--calls`` calls
  (what the training loop waits for; background writing not included), and ``final ms``: the
  ``finalize("success")`` that makes everything durable.
* ``fit µs/step``: a tiny ``Trainer.fit`` (a linear layer, ``log_every_n_steps=1``) over
  ``--steps`` optimizer steps, minus the same fit with ``logger=False``: what the logger costs a
  real step, the Trainer's own logging machinery included.

Loggers: none, track (sqlite, the embedded default), csv, and mlflow / tensorboard / wandb
(offline) when installed; mlflow on a sqlite store (its file store is refused by mlflow 3).

    python benchmarks/bench_integrations.py                  # 2000 calls, 300 steps, 3 repeats
    python benchmarks/bench_integrations.py --calls 500 --steps 100 --repeats 1
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


def make_logger(kind: str, folder: Path) -> Any:
    """A fresh Lightning logger of ``kind`` writing under ``folder`` (None: no logger)."""
    from lightning.pytorch import loggers

    if kind == "none":
        return False
    if kind == "track":
        from track.integrations.lightning import TrackLogger

        return TrackLogger(uri=f"sqlite:///{folder / 'track.db'}", project="bench")
    if kind == "csv":
        return loggers.CSVLogger(str(folder))
    if kind == "mlflow":
        return loggers.MLFlowLogger(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    if kind == "tensorboard":
        return loggers.TensorBoardLogger(str(folder))
    if kind == "wandb":
        return loggers.WandbLogger(save_dir=str(folder), offline=True)
    raise ValueError(kind)


def available(kinds: list[str]) -> list[str]:
    """The loggers among ``kinds`` whose package is installed."""
    needs = {"mlflow": "mlflow", "tensorboard": "tensorboard", "wandb": "wandb"}
    return [k for k in kinds if k not in needs or importlib.util.find_spec(needs[k])]


def time_calls(kind: str, calls: int) -> tuple[float, float]:
    """(µs per log_metrics call, ms for finalize) for a fresh logger of ``kind``."""
    with tempfile.TemporaryDirectory() as folder:
        logger = make_logger(kind, Path(folder))
        logger.log_hyperparams({"lr": 0.1, "batch_size": 8})
        logger.log_metrics({"loss": 1.0}, step=0)  # the first call may open the store
        start = time.perf_counter()
        for step in range(1, calls + 1):
            logger.log_metrics({"loss": 1.0 / step, "acc": 0.5, "lr": 0.1}, step=step)
        per_call = (time.perf_counter() - start) / calls * 1e6
        start = time.perf_counter()
        logger.finalize("success")
        final = (time.perf_counter() - start) * 1e3
        if kind == "track":
            logger.close()
        elif kind == "wandb":
            import wandb

            wandb.finish()
    return per_call, final


def time_fit(kind: str, steps: int) -> float:
    """Seconds for a tiny fit of ``steps`` optimizer steps with a logger of ``kind``."""
    import lightning as L
    import torch

    class Tiny(L.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.save_hyperparameters({"lr": 0.1})
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.TensorDataset(torch.randn(steps * 2, 4), torch.randn(steps * 2, 1))
    with tempfile.TemporaryDirectory() as folder:
        logger = make_logger(kind, Path(folder))
        trainer = L.Trainer(
            accelerator="cpu",
            max_epochs=1,
            log_every_n_steps=1,
            logger=logger,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=folder,
        )
        start = time.perf_counter()
        trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=2))
        elapsed = time.perf_counter() - start
        if kind == "track":
            logger.close()
        elif kind == "wandb":
            import wandb

            wandb.finish()
    return elapsed


def median_of(repeats: int, kinds: list[str], measure: Callable[[str], Any]) -> dict[str, Any]:
    """Each kind measured ``repeats`` times, kinds taking turns; the per-kind runs."""
    runs: dict[str, list[Any]] = {kind: [] for kind in kinds}
    for _ in range(repeats):
        for kind in kinds:
            runs[kind].append(measure(kind))
    return runs


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loggers", default="none,track,csv,mlflow,tensorboard,wandb")
    args = parser.parse_args()
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    kinds = available(args.loggers.split(","))
    loggers = [k for k in kinds if k != "none"]
    calls = median_of(args.repeats, loggers, lambda kind: time_calls(kind, args.calls))
    fits = median_of(args.repeats, ["none", *loggers], lambda kind: time_fit(kind, args.steps))
    base = statistics.median(fits["none"])
    print(f"calls={args.calls} steps={args.steps} repeats={args.repeats} (medians)")
    print(f"{'logger':<12} {'call µs':>9} {'final ms':>9} {'fit µs/step':>12} {'overhead':>9}")
    print(f"{'none':<12} {'':>9} {'':>9} {base / args.steps * 1e6:>12.0f} {'':>9}")
    for kind in loggers:
        call = statistics.median(c for c, _ in calls[kind])
        final = statistics.median(f for _, f in calls[kind])
        fit = statistics.median(fits[kind])
        extra = (fit - base) / args.steps * 1e6
        print(
            f"{kind:<12} {call:>9.1f} {final:>9.1f} {fit / args.steps * 1e6:>12.0f} "
            f"{extra:>+8.0f}µs"
        )


if __name__ == "__main__":
    main()
