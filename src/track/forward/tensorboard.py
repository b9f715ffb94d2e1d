"""Forward scalars to TensorBoard event files (tensorboardX, else torch's SummaryWriter).

Each trial writes into ``<logdir>/<trial name or uid>``; its parameters go in as a text
summary ``parameters``. Points without a step use the metric's next index.
"""

from __future__ import annotations

import json
import os
from typing import Any

from track.forward.base import Forwarder, Row
from track.structure import Trial

__all__ = ["TensorBoardForwarder"]


def _summary_writer() -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter


class TensorBoardForwarder(Forwarder):
    """Scalars via ``add_scalar`` with the track step and wall time of every point."""

    name = "tensorboard"

    def __init__(self, logdir: str | os.PathLike[str] = "runs") -> None:
        super().__init__()
        self.writer_class = _summary_writer()
        self.logdir = os.fspath(logdir)
        self.writer: Any = None
        self._next_step: dict[str, int] = {}

    def start(self, trial: Trial) -> None:
        """Open a writer for the trial and record its parameters as text."""
        folder = os.path.join(self.logdir, trial.name or trial.uid)
        self.writer = self.writer_class(folder)
        self._next_step = {}
        text = json.dumps(trial.parameters, indent=2, default=str)
        self.writer.add_text("parameters", f"```\n{text}\n```", 0)

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """``add_scalar`` for every point."""
        for step, when, values in rows:
            for name, value in values.items():
                index = step if isinstance(step, int) else self._next_step.get(name, 0)
                self._next_step[name] = index + 1
                self.writer.add_scalar(name, value, index, walltime=when)

    def end(self, trial: Trial, status: dict[str, Any] | None) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
