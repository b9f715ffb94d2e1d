"""Framework adapters' overhead: track's Lightning logger and Transformers callback next to the
frameworks' own MLflow/W&B/CSV/TensorBoard adapters, in the same run.

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

A second table times ``transformers.Trainer.train`` of a tiny GPT-2 (``--transformers-steps``
steps, ``logging_steps=1``) with no callback, track's ``TrackCallback``, and transformers' own
MLflow and W&B (offline) callbacks (``report_to=``): the overhead per logged step.

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


def time_transformers(kind: str, steps: int) -> float:
    """Seconds for ``transformers.Trainer.train`` of ``steps`` steps of a tiny GPT-2, logging
    every step through ``kind``: none, track (TrackCallback), or transformers' own mlflow or
    wandb (offline) callback."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers

    class Batches(torch.utils.data.Dataset):  # type: ignore[misc,name-defined]
        def __len__(self) -> int:
            return steps * 2

        def __getitem__(self, index: int) -> dict[str, Any]:
            ids = torch.arange(8) % 32
            return {"input_ids": ids, "labels": ids}

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # side files of any tracker (comet_ml writes .cometml-runs/) stay there
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
        os.environ["WANDB_DIR"] = folder
        callbacks = []
        if kind == "track":
            from track.integrations.transformers import TrackCallback

            callbacks.append(TrackCallback(uri=f"sqlite:///{folder}/track.db", project="bench"))
        config = transformers.GPT2Config(
            vocab_size=32, n_positions=8, n_embd=16, n_layer=1, n_head=2
        )
        args = transformers.TrainingArguments(
            output_dir=folder,
            max_steps=steps,
            per_device_train_batch_size=2,
            logging_steps=1,
            save_strategy="no",
            report_to=kind if kind in ("mlflow", "wandb") else "none",
            use_cpu=True,
            disable_tqdm=True,
        )
        trainer = transformers.Trainer(
            model=transformers.GPT2LMHeadModel(config),
            args=args,
            train_dataset=Batches(),
            callbacks=callbacks,
        )
        start = time.perf_counter()
        trainer.train()
        elapsed = time.perf_counter() - start
        for callback in callbacks:
            callback.close()
        if kind == "wandb":
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
    parser.add_argument("--transformers-steps", type=int, default=200)
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
    transformers_table(args.transformers_steps, args.repeats)


def transformers_table(steps: int, repeats: int) -> None:
    """Print the Transformers table: train time per step, and the callback's overhead."""
    if importlib.util.find_spec("transformers") is None:
        print("transformers: not installed")
        return
    needs = {"mlflow": "mlflow", "wandb": "wandb"}
    kinds = [
        k
        for k in ("none", "track", "mlflow", "wandb")
        if importlib.util.find_spec(needs.get(k, "torch"))
    ]
    runs = median_of(repeats, kinds, lambda kind: time_transformers(kind, steps))
    base = statistics.median(runs["none"])
    print(f"\ntransformers Trainer, tiny GPT-2, {steps} steps logging every step (medians)")
    print(f"{'callback':<12} {'train µs/step':>14} {'overhead':>10}")
    for kind in kinds:
        per_step = statistics.median(runs[kind]) / steps * 1e6
        extra = (
            ""
            if kind == "none"
            else f"{(statistics.median(runs[kind]) - base) / steps * 1e6:+.0f}µs"
        )
        print(f"{kind:<12} {per_step:>14.0f} {extra:>10}")


if __name__ == "__main__":
    main()
