"""The Transformers callback, with a real Trainer on a tiny GPT-2 built from a config (CPU)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from optional import require

# set before transformers is imported (huggingface_hub reads it then): nothing is fetched
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = require("torch")
transformers = require("transformers")

from track.integrations.transformers import TrackCallback  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.structure import Status  # noqa: E402


class Batches(torch.utils.data.Dataset):  # type: ignore[misc,name-defined]
    """A few random token sequences, each its own language-modelling labels."""

    def __init__(self, count: int) -> None:
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 32, (count, 8), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.ids[index], "labels": self.ids[index]}


def test_trainer_records_losses_arguments_and_completion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each logging step's loss, the eval loss, TrainingArguments and the model config are stored."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = transformers.GPT2Config(vocab_size=32, n_positions=8, n_embd=16, n_layer=1, n_head=2)
    model = transformers.GPT2LMHeadModel(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=4,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    callback = TrackCallback(uri=uri, project="hf")
    trainer = transformers.Trainer(
        model=model,
        args=args,
        train_dataset=Batches(8),
        eval_dataset=Batches(4),
        callbacks=[callback],
    )
    trainer.train()
    callback.close()

    protocol = get_protocol(uri)
    try:
        (trial,) = protocol.fetch_trials({})
    finally:
        protocol.close()
    assert trial.status is Status.Completed
    assert [p[0] for p in trial.metrics["loss"]] == [1, 2, 3, 4]
    assert [p[0] for p in trial.metrics["eval_loss"]] == [2, 4]
    assert "learning_rate" in trial.metrics
    assert trial.parameters["args.learning_rate"] == 1e-3
    assert trial.parameters["args.max_steps"] == 4
    assert trial.parameters["model.n_embd"] == 16
    assert trial.metadata["global_step"] == 4
