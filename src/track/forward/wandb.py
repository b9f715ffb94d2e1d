"""Forward to Weights & Biases (any mode: online, offline, disabled).

Each trial becomes one wandb run (project: the ``project`` option, else the trial's project;
config: the trial's parameters). Metrics are plotted against their own ``track/step`` axis, so
series logged at unrelated steps never hit wandb's "steps must increase" rule; points without
a step are logged without one. Metadata ``config`` (the ezpz-style ``log_config``) updates the
run's config; non-numeric values the ezpz-style tracker keeps in metadata ``summary`` go to the
run's summary. A table, image or artifact wandb cannot take (not an image, file gone, Pillow
missing) is skipped with a warning (:class:`ItemError`); the run goes on.

Runs are created with ``reinit="create_new"``, so they never finish or replace a run the user
started. ``make_global=True`` (the ezpz-style backends) also makes the run ``wandb.run`` when
no other run is, as ``wandb.init`` does: wandb's torch hooks (``watch``) and top-level
functions (``wandb.log``) only ever use that one.

Edits made in track reach the trial's run while it is live (the trial is still being forwarded):
a display name becomes the run's name ("" gives back its first name), a note its notes, and
removed tags leave its tags (``name=value``). A finished run is not edited: wandb cannot change
an offline run after ``finish`` (``wandb sync`` uploads it as it was), and this forwarder does
not call wandb's web API; such an edit is skipped with a warning (:class:`ItemError`) naming the
run. A trial deleted in track keeps its run: wandb's delete is permanent, with nothing to
restore, and an offline run's folder may be the only copy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from track.forward.base import DISPLAY, TAG_REMOVAL, Forwarder, ItemError, Row
from track.structure import Trial

__all__ = ["STEP_KEY", "RunHandle", "WandbForwarder"]

log = logging.getLogger("track.forward")

#: The x-axis every forwarded metric is defined against.
STEP_KEY = "track/step"


class RunHandle(NamedTuple):
    """What an edit needs to know of a run this forwarder made."""

    id: str
    #: the name it was given (None: wandb's own), which removing a display name gives back
    name: str | None
    #: "online", "offline" or "disabled"
    mode: str


class WandbForwarder(Forwarder):
    """One wandb run per trial; ``mode`` defaults to ``WANDB_MODE`` or wandb's own default.

    A trial without a name gives its uid as the run's name, unless ``name_from_uid`` is False
    (wandb then makes one up). Other keywords go to ``wandb.init``.
    """

    name = "wandb"
    edits = frozenset({DISPLAY, TAG_REMOVAL})

    def __init__(
        self,
        project: str | None = None,
        mode: str | None = None,
        dir: str | os.PathLike[str] | None = None,
        make_global: bool = False,
        name_from_uid: bool = True,
        **init: Any,
    ) -> None:
        super().__init__()
        import wandb

        self.wandb = wandb
        self.project = project
        self.mode = mode
        # absolute: wandb's service process resolves a relative dir in its own working directory
        self.dir = os.path.abspath(dir) if dir is not None else None
        self.make_global = make_global
        self.name_from_uid = name_from_uid
        self.init = init
        self.run: Any = None

    def start(self, trial: Trial) -> None:
        """``wandb.init`` a new run named after the trial (``reinit="create_new"``)."""
        settings = self.wandb.Settings(silent=True, console="off", x_disable_stats=True)
        if self.dir is not None:
            os.makedirs(self.dir, exist_ok=True)
        options: dict[str, Any] = {
            "project": self.project or trial.project_id,
            "name": trial.name or (trial.uid if self.name_from_uid else None),
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
        if self.make_global and self.wandb.run is None:
            self._make_global()
        self.run.define_metric(STEP_KEY)
        self.run.define_metric("*", step_metric=STEP_KEY)
        self.run.summary["track_uid"] = trial.uid
        mode = "disabled" if self.run.disabled else "offline" if self.run.offline else "online"
        self.remember(trial, RunHandle(self.run.id, self.run.name, mode))

    def _make_global(self) -> None:
        """Make the run ``wandb.run``, as ``wandb.init`` without ``reinit="create_new"`` does."""
        try:
            from wandb.sdk.wandb_init import _set_global_run
        except ImportError as error:  # a wandb release without it: say what does not work
            log.warning(
                "track: this wandb (%s) cannot make the run wandb.run (%s); watch() and "
                "wandb.log will not reach it",
                self.wandb.__version__,
                error,
            )
            return
        _set_global_run(self.run)

    @property
    def run_url(self) -> str | None:
        """The run's page on the wandb server (None offline or disabled)."""
        if self.run is None or self.run.offline or self.run.disabled:
            return None
        url: str = self.run.url
        return url

    def describe(self) -> str | None:
        """Run name, project, and its URL or (offline) its folder."""
        run = self.run
        if run is None or run.disabled:
            return None
        name = run.name or run.id  # offline, wandb names no run
        if self.run_url:
            return f"wandb run {name!r} of project {run.project!r} at {self.run_url}"
        return (
            f"wandb run {name!r} of project {run.project!r}, offline in "
            f"{run.settings.sync_dir} (upload with: wandb sync {run.settings.sync_dir})"
        )

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """One ``run.log`` per log call, with the step under ``track/step``."""
        for step, _, values in rows:
            data: dict[str, Any] = dict(values)
            if step is not None:
                data[STEP_KEY] = step
            self.run.log(data)

    def log_metadata(self, trial: Trial, metadata: dict[str, Any]) -> None:
        """Metadata ``config`` into run.config (last value wins), ``summary`` into run.summary."""
        config = metadata.get("config")
        if isinstance(config, dict):
            self.run.config.update(config, allow_val_change=True)
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

    def _edit_runs(self, uid: str, edit: Callable[[Any, RunHandle], None]) -> None:
        """``edit(run, handle)`` on the live run of trial ``uid``; an :class:`ItemError` names
        its finished runs, which wandb cannot edit from here (disabled ones are passed over)."""
        live = self.current is not None and self.current.uid == uid and self.run is not None
        finished: list[RunHandle] = []
        for handle in self.forwarded.get(uid, []):
            if live and self.run.id == handle.id:
                edit(self.run, handle)
            elif handle.mode != "disabled":
                finished.append(handle)
        if not finished:
            return
        offline = [h.id for h in finished if h.mode == "offline"]
        online = [h.id for h in finished if h.mode == "online"]
        reasons = []
        if offline:
            reasons.append(
                f"offline run(s) {', '.join(offline)} finished: wandb cannot change them any "
                "more, and `wandb sync` uploads them as they were (edit them in the wandb UI "
                "after syncing)"
            )
        if online:
            reasons.append(
                f"run(s) {', '.join(online)} finished: this forwarder edits live runs only "
                "(edit them in the wandb UI)"
            )
        raise ItemError(f"wandb keeps the old values: {'; '.join(reasons)}")

    def set_display(self, uid: str, name: str | None, note: str | None) -> None:
        """The live run's name ("" gives back its first name) and notes."""

        def apply(run: Any, handle: RunHandle) -> None:
            if name is not None:
                run.name = name or handle.name
            if note is not None:
                run.notes = note

        self._edit_runs(uid, apply)

    def remove_tags(self, uid: str, names: Sequence[str]) -> None:
        """Drop the live run's tags ``<name>=<value>`` of the named tags."""

        def apply(run: Any, handle: RunHandle) -> None:
            kept = [t for t in run.tags if t.split("=", 1)[0] not in names or "=" not in t]
            if len(kept) != len(run.tags):
                run.tags = kept

        self._edit_runs(uid, apply)

    def end(self, trial: Trial, status: dict[str, Any] | None) -> None:
        """Finish the run (exit code 0 when the trial Completed, else 1)."""
        if self.run is not None:
            name = (status or {}).get("name")
            self.run.finish(exit_code=0 if name == "Completed" else 1)
            self.run = None
