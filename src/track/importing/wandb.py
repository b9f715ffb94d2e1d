"""Read wandb offline runs (``wandb/offline-run-*/run-*.wandb``) with wandb's own record types.

wandb 0.31 reads these files only in its Go service (``wandb-core``) and ships no Python
reader, so the framing is read here: a 7-byte header (``:W&B``, magic, version), then 32 KiB
blocks of LevelDB-log records, each a CRC (4 bytes, not checked), a little-endian length (2
bytes) and a type (1 full, 2 first, 3 middle, 4 last); a torn record at the end of a run that
was killed is dropped. Each record's payload is a ``wandb.proto.wandb_internal_pb2.Record``,
decoded by wandb's own protobuf classes. Each run becomes a :class:`SourceRun`:

* name: the display name; project: the wandb project; group: the wandb group; key:
  ``project/run id`` (wandb's run ids are unique in a project).
* parameters: the config (``wandb.init`` then every ``config.update``; wandb's ``_wandb``
  left out); tags: the run's tags (labels without values); notes in metadata.
* metrics: every number of every ``run.log`` row, at the row's ``_step`` and ``_timestamp``
  (strings, images and other media are left out; nested keys are joined by ``/``).
* status: the exit record's code (0 Completed, else Exception); a run without one (killed, or
  still running) is Interrupted. The summary goes to ``metadata["wandb_summary"]``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from track.errors import NotFound, import_extra
from track.importing.core import SourceError, SourceRun
from track.persistence.protocol import Point
from track.structure import Status

__all__ = ["read_runs", "records"]

EXTRA = "wandb"
BLOCK = 32 * 1024
HEADER = 7
RECORD_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_INTERNAL = {"_step", "_timestamp", "_runtime"}


def read_runs(location: str) -> Iterator[SourceRun]:
    """The run of an offline run folder (or a ``.wandb`` file), or of every one under a folder."""
    import_extra("wandb.proto.wandb_internal_pb2", EXTRA, "importing wandb runs")
    path = Path(location)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("run-*.wandb")) or sorted(path.rglob("run-*.wandb"))
    else:
        raise NotFound(f"no wandb run folder at {location}")
    if not files:
        raise NotFound(f"no wandb offline run file (run-*.wandb) under {location}")
    return (_run(file) for file in files)


def records(path: Path) -> Iterator[bytes]:
    """The payload of every whole record of a ``.wandb`` file, in order."""
    with open(path, "rb") as file:
        data = file.read()
    if data[:4] != b":W&B":
        raise SourceError(f"{path} is not a wandb run file (no :W&B header)")
    pending = b""
    offset = HEADER
    while offset + RECORD_HEADER <= len(data):
        room = BLOCK - offset % BLOCK
        if room < RECORD_HEADER:  # a block's tail too short for a header is padding
            offset += room
            continue
        length, kind = struct.unpack("<HB", data[offset + 4 : offset + RECORD_HEADER])
        start = offset + RECORD_HEADER
        if (kind == 0 and length == 0) or start + length > len(data):
            return  # zero padding of the last block, or a record torn by a crash
        chunk = data[start : start + length]
        offset = start + length
        if kind in (_FULL, _FIRST):
            pending = chunk
        elif kind in (_MIDDLE, _LAST):
            pending += chunk
        if kind in (_FULL, _LAST):
            yield pending
            pending = b""


def _key(item: Any) -> str:
    return str(item.key or "/".join(item.nested_key))


def _run(path: Path) -> SourceRun:
    from wandb.proto import wandb_internal_pb2 as pb

    run: Any = None
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    series: dict[str, list[Point]] = {}
    exit_code: int | None = None
    for payload in records(path):
        record = pb.Record.FromString(payload)  # type: ignore[attr-defined]  # generated, untyped
        kind = record.WhichOneof("record_type")
        if kind == "history":
            _add_row(series, {_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "run":
            run = record.run
            config.update({_key(i): json.loads(i.value_json) for i in run.config.update})
        elif kind == "config":
            config.update({_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "summary":
            summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind == "exit":
            exit_code = record.exit.exit_code
    if run is None:
        raise SourceError(f"{path} holds no run record")
    config.pop("_wandb", None)
    summary = {k: v for k, v in summary.items() if not k.startswith("_wandb")}
    status = {None: Status.Interrupted, 0: Status.Completed}.get(exit_code, Status.Exception)
    metadata: dict[str, Any] = {"wandb_summary": summary, "wandb_run_id": run.run_id}
    if run.notes:
        metadata["notes"] = run.notes
    if run.HasField("start_time"):
        metadata["start_time"] = run.start_time.seconds + run.start_time.nanos / 1e9
    return SourceRun(
        source="wandb",
        key=f"{run.project}/{run.run_id}",
        name=run.display_name or run.run_id,
        project=run.project or "wandb",
        group=run.run_group or None,
        parameters=config,
        tags=dict.fromkeys(run.tags),
        metadata=metadata,
        status=status,
        series=series,
    )


def _add_row(series: dict[str, list[Point]], row: dict[str, Any]) -> None:
    """The numbers of one ``run.log`` row as points at its step and time."""
    step = row.get("_step")
    when = row.get("_timestamp")
    if not isinstance(when, (int, float)):
        return
    for name, value in row.items():
        if name in _INTERNAL or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        points = series.get(name)
        if points is None:
            points = series[name] = []
        points.append((step, value, float(when)))
