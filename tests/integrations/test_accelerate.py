"""The Accelerate tracker, with a real Accelerator on CPU: config and logged points in the store."""

from __future__ import annotations

from pathlib import Path

from optional import require

torch = require("torch")
accelerate = require("accelerate")

from track.integrations.accelerate import TrackTracker  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.structure import Status  # noqa: E402


def test_accelerator_log_records_points_and_config(tmp_path: Path) -> None:
    """init_trackers' config becomes parameters, each accelerator.log a point, end completes."""
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    accelerator = accelerate.Accelerator(cpu=True, log_with=TrackTracker(uri=uri, project="acc"))
    accelerator.init_trackers("acc", config={"lr": 0.1, "optim": {"name": "sgd"}})
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, optimizer = accelerator.prepare(model, optimizer)
    torch.manual_seed(0)
    for step in range(5):
        x, y = torch.randn(8, 4), torch.randn(8, 1)
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        accelerator.log({"loss": loss.item(), "phase": "train"}, step=step)
    accelerator.end_training()

    protocol = get_protocol(uri)
    try:
        (trial,) = protocol.fetch_trials({})
    finally:
        protocol.close()
    assert trial.parameters == {"lr": 0.1, "optim.name": "sgd"}
    assert [p[0] for p in trial.metrics["loss"]] == [0, 1, 2, 3, 4]
    assert trial.metadata["phase"] == "train"
    assert trial.status is Status.Completed
