"""Read the scalars of a TensorBoard log folder with TensorBoard's own event-file reader.

Every folder under LOGDIR holding ``*tfevents*`` files is a run (LOGDIR itself too); its event
files are read in name order (a restarted run appends a new file) with
``tensorboard.backend.event_processing.event_file_loader.RawEventFileLoader`` and TensorBoard's
``Event`` protobuf. Each run becomes a :class:`SourceRun`:

* name: the run folder relative to LOGDIR (LOGDIR's own name for LOGDIR itself); project:
  LOGDIR's folder name; key: the run folder and its first event file's name (which holds the
  writer's start time, host and process id), so two log folders with a ``run1`` stay apart.
* metrics: every scalar, written the TF1 way (``simple_value``, tensorboardX,
  ``torch.utils.tensorboard``) or the TF2 way (a 0-d tensor of the ``scalars`` plugin), with its
  step and wall time. Histograms, images and text are not imported.
* parameters: the hparams plugin's session start (``add_hparams``, ``hp.hparams``) when the
  run's own files hold one; otherwise none.
* status: event files record none: Completed. Start and end time: the first and last event.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from track.errors import NotFound, import_extra
from track.importing.core import SourceRun
from track.persistence.protocol import Point
from track.structure import Status

__all__ = ["read_runs"]

EXTRA = "import-tensorboard"
SCALARS = "scalars"
HPARAMS = "hparams"


def read_runs(logdir: str) -> Iterator[SourceRun]:
    """Every run under ``logdir``, lazily (one run's points in memory at a time)."""
    import_extra("tensorboard", EXTRA, "importing TensorBoard logs")
    root = Path(logdir).resolve()
    if not root.is_dir():
        raise NotFound(f"no TensorBoard log folder at {logdir}")
    runs = _run_folders(root)
    if not runs:
        raise NotFound(f"no TensorBoard event files (*tfevents*) under {logdir}")
    return (_run(root, folder, files) for folder, files in runs)


def _run_folders(root: Path) -> list[tuple[Path, list[Path]]]:
    """Each folder holding event files, with its event files in name order."""
    found = []
    for folder, _, names in sorted(os.walk(root)):
        events = sorted(name for name in names if "tfevents" in name)
        if events:
            found.append((Path(folder), [Path(folder, name) for name in events]))
    return found


def _run(root: Path, folder: Path, files: list[Path]) -> SourceRun:
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader  # type: ignore[import-untyped]  # no stubs, no py.typed
    from tensorboard.compat.proto.event_pb2 import Event  # type: ignore[import-untyped]  # no stubs, no py.typed

    relative = folder.relative_to(root).as_posix()
    series: dict[str, list[Point]] = {}
    parameters: dict[str, Any] = {}
    first = last = None
    for path in files:
        for raw in RawEventFileLoader(str(path)).Load():
            event = Event.FromString(raw)
            first = event.wall_time if first is None else first
            last = event.wall_time
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == HPARAMS:
                    parameters.update(_hparams(value.metadata.plugin_data.content))
                    continue
                scalar = _scalar(value, plugin)
                if scalar is not None:
                    points = series.get(value.tag)
                    if points is None:
                        points = series[value.tag] = []
                    points.append((event.step, scalar, event.wall_time))
    metadata: dict[str, Any] = {"tensorboard_run": relative, "start_time": first, "end_time": last}
    return SourceRun(
        source="tensorboard",
        key=f"{relative}/{files[0].name}",
        name=root.name if relative == "." else relative,
        project=root.name,
        parameters=parameters,
        metadata=metadata,
        status=Status.Completed,
        series=series,
    )


def _scalar(value: Any, plugin: str) -> float | None:
    """The number a summary value holds, when it is a scalar; else None."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind != "tensor" or plugin != SCALARS:
        return None
    tensor = value.tensor
    if tensor.float_val:
        return float(tensor.float_val[0])
    if tensor.double_val:
        return float(tensor.double_val[0])
    from tensorboard.util.tensor_util import make_ndarray  # type: ignore[import-untyped]  # no stubs, no py.typed

    array = make_ndarray(tensor)
    return float(array.reshape(-1)[0]) if array.size == 1 else None


def _hparams(content: bytes) -> dict[str, Any]:
    """The hyperparameters of an hparams plugin record (a session start), else nothing."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData  # type: ignore[import-untyped]  # no stubs, no py.typed

    data = HParamsPluginData.FromString(content)
    if not data.HasField("session_start_info"):
        return {}
    out: dict[str, Any] = {}
    for name, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        out[name] = None if kind in (None, "null_value") else getattr(value, kind)
    return out
