"""Read a wandb offline run file (``run-*.wandb``): a LevelDB-style log of protobuf records.

wandb 0.31 no longer ships a Python reader, so the tests parse the documented framing: a
7-byte header (``:W&B``, magic, version), then 32 KiB blocks of records, each with a CRC (4
bytes), a length (2 bytes, little-endian) and a type (1 full, 2 first, 3 middle, 4 last).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7


def run_file(folder: Path) -> Path:
    """The one offline run file under ``folder/wandb``, once wandb has written all of it.

    ``run.finish()`` can return before wandb's service process has written the run's last
    block, so this shuts the service down first (``wandb.teardown()``; the next
    ``wandb.init`` starts another).
    """
    import wandb

    wandb.teardown()
    [path] = (folder / "wandb").glob("offline-run-*/run-*.wandb")
    return path


def records(path: Path) -> list[bytes]:
    """The payload of every record of a ``.wandb`` file, in order."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a wandb run file"
    out: list[bytes] = []
    pending = b""
    offset = HEADER
    while offset + 7 <= len(data):
        room = BLOCK - offset % BLOCK
        if room < 7:
            offset += room
            continue
        length, kind = struct.unpack("<HB", data[offset + 4 : offset + 7])
        chunk = data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind == 0 and length == 0:
            break
        pending += chunk
        if kind in (1, 4):
            out.append(pending)
            pending = b""
    return out


def history(path: Path) -> list[dict[str, Any]]:
    """Every ``run.log`` row of the run, as a dict."""
    from wandb.proto import wandb_internal_pb2 as pb

    rows = []
    for payload in records(path):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in record.history.item
                }
            )
    return rows


def summary(path: Path) -> dict[str, Any]:
    """The run's summary as written by its ``summary`` records (later updates win)."""
    from wandb.proto import wandb_internal_pb2 as pb

    out: dict[str, Any] = {}
    for payload in records(path):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "summary":
            for item in record.summary.update:
                out[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return out


def run_record(path: Path) -> dict[str, Any]:
    """The run's identity as ``wandb.init`` wrote it: name, project, group, job type, tags, notes."""
    from wandb.proto import wandb_internal_pb2 as pb

    for payload in records(path):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "run":
            run = record.run
            return {
                "name": run.display_name,
                "project": run.project,
                "group": run.run_group,
                "job_type": run.job_type,
                "tags": list(run.tags),
                "notes": run.notes,
            }
    raise AssertionError(f"no run record in {path}")


def config(path: Path) -> dict[str, Any]:
    """The run's config: ``wandb.init``'s, then every ``config.update`` (wandb's ``_wandb`` left out)."""
    from wandb.proto import wandb_internal_pb2 as pb

    out: dict[str, Any] = {}
    for payload in records(path):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind in ("run", "config"):
            update = record.run.config.update if kind == "run" else record.config.update
            for item in update:
                out[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    out.pop("_wandb", None)
    return out
