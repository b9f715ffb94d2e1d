"""The TensorBoard forwarder: parse the event file and compare with track's store."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from helpers import run_trial, stepped

from optional import require

require("tensorboardX", reason="needs tensorboardX (pip install track[tensorboard])")


def scalars(folder: Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}`` from the TFRecord-framed event files under ``folder``."""
    from tensorboardX.proto import event_pb2

    out: dict[str, dict[int, float]] = {}
    for path in folder.rglob("events.out.tfevents.*"):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[offset + 12 : offset + 12 + length])
            offset += 16 + length
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    out.setdefault(value.tag, {})[event.step] = value.simple_value
    return out


def test_tensorboard_matches_store(tmp_path: Path) -> None:
    """Every stepped point is an event at its step (float32 precision, as TensorBoard keeps it)."""
    from track.forward.tensorboard import TensorBoardForwarder

    stored = run_trial(tmp_path, [TensorBoardForwarder(tmp_path / "tb")])
    written = scalars(tmp_path / "tb")
    for name in ("loss", "acc"):
        assert written[name] == pytest.approx(stepped(stored, name), rel=1e-6)
