"""Forward to Weights & Biases (any mode: online, offline, disabled).

Each trial becomes one wandb run (project: the ``project`` option, else the trial's project;
config: the trial's parameters). Metrics are plotted against their own ``track/step`` axis, so
series logged at unrelated steps never hit wandb's "steps must increase" rule; points without
a step are logged without one. Non-numeric values the ezpz-style tracker keeps in metadata
``summary`` go to the run's summary. A table, image or artifact wandb cannot take (not an
image, file gone, Pillow missing) is skipped with a warning (:class:`ItemError`); the run goes on.
"""

from __future__ import annotations

import os
from typing import Any

from track.forward.base import Forwarder, ItemError, Row
from track.structure import Trial

__all__ = ["STEP_KEY", "WandbForwarder"]

#: The x-axis every forwarded metric is defined against.
STEP_KEY = "track/step"


class WandbForwarder(Forwarder):
    """One wandb run per trial; ``mode`` defaults to ``WANDB_MODE`` or wandb's own default."""

    name = "wandb"

    def __init__(
        self,
        project: str | None = None,
        mode: str | None = None,
        dir: str | os.PathLike[str] | None = None,
        **init: Any,
    ) -> None:
        super().__init__()
        import wandb

        self.wandb = wandb
        self.project = project
        self.mode = mode
        self.dir = os.fspath(dir) if dir is not None else None
        self.init = init
        self.run: Any = None

    def start(self, trial: Trial) -> None:
        """``wandb.init`` a new run named after the trial (``reinit="create_new"``)."""
        settings = self.wandb.Settings(silent=True, console="off", x_disable_stats=True)
        options: dict[str, Any] = {
            "project": self.project or trial.project_id,
            "name": trial.name or trial.uid,
            "config": trial.parameters,
            "dir": self.dir,
            "mode": self.mode,
            "tags": [f"{k}={v}" for k, v in trial.tags.items()] or None,
            "notes": trial.description,
            "reinit": "create_new",
            "settings": settings,
            **self.init,
        }
        self.run = self.wandb.init(**{k: v for k, v in options.items() if v is not None})
        self.run.define_metric(STEP_KEY)
        self.run.define_metric("*", step_metric=STEP_KEY)
        self.run.summary["track_uid"] = trial.uid

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """One ``run.log`` per log call, with the step under ``track/step``."""
        for step, _, values in rows:
            data: dict[str, Any] = dict(values)
            if step is not None:
                data[STEP_KEY] = step
            self.run.log(data)

    def log_metadata(self, trial: Trial, metadata: dict[str, Any]) -> None:
        """Metadata ``summary`` (non-numeric values of the ezpz-style tracker) into run.summary."""
        summary = metadata.get("summary")
        if isinstance(summary, dict):
            self.run.summary.update(summary)

    def _media(self, kind: str, key: str, make: Any, *args: Any, **kwargs: Any) -> Any:
        """``make(*args, **kwargs)``; a failure is this item's alone (:class:`ItemError`)."""
        try:
            return make(*args, **kwargs)
        except Exception as error:
            raise ItemError(
                f"wandb cannot take {kind} {key!r} ({type(error).__name__}: {error})"
            ) from error

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Tables as ``wandb.Table``, images as ``wandb.Image``, artifacts saved with the run."""
        if kind == "tables":
            table = self._media(
                kind, key, self.wandb.Table, columns=entry["columns"], data=entry["data"]
            )
            self.run.log({key: table})
            return
        path = entry.get("path", "")
        if kind == "artifacts" and entry.get("directory"):
            raise ItemError(f"artifact {key!r} is a directory: not sent to wandb (track keeps it)")
        if not os.path.isfile(path):
            raise ItemError(f"{kind} {key!r}: file {path!r} is gone, wandb cannot read it")
        if kind == "images":
            image = self._media(kind, key, self.wandb.Image, path, caption=entry.get("caption"))
            self.run.log({key: image})
        elif kind == "artifacts":
            self.run.save(path, base_path=os.path.dirname(path), policy="now")

    def end(self, trial: Trial, status: dict[str, Any] | None) -> None:
        """Finish the run (exit code 0 when the trial Completed, else 1)."""
        if self.run is not None:
            name = (status or {}).get("name")
            self.run.finish(exit_code=0 if name == "Completed" else 1)
            self.run = None
