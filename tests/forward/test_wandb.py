"""The wandb forwarder in offline mode: read the run file back and compare with track's store."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_trial, stepped

from optional import require

require("wandb", reason="needs wandb (pip install track[wandb])")

from wandb_reader import history, summary  # noqa: E402
from wandb_reader import run_file as flushed_run_file  # noqa: E402

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_wandb_offline_matches_store(tmp_path: Path) -> None:
    """Every stepped and unstepped point reaches the offline run, at its track step."""
    from track.forward.wandb import STEP_KEY, WandbForwarder

    stored = run_trial(tmp_path, [WandbForwarder(mode="offline", dir=tmp_path)])
    run_file = flushed_run_file(tmp_path)
    rows = history(run_file)
    for name in ("loss", "acc"):
        written = {r[STEP_KEY]: r[name] for r in rows if name in r}
        assert written == stepped(stored, name)
    assert [r["lr_seen"] for r in rows if "lr_seen" in r] == [
        p[1] for p in stored.metrics["lr_seen"]
    ]


def test_bad_image_does_not_stop_wandb(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An image wandb cannot take is warned about; every metric after it still reaches wandb."""
    from track.tracker import setup_tracker

    caplog.set_level(logging.WARNING, logger="track.forward")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image")
    tracker = setup_tracker(
        "p",
        backends="track,wandb",
        outdir=tmp_path,
        uri=f"file://{tmp_path / 'store.json'}",
        wandb_options={"mode": "offline"},
    )
    forwarder = tracker.get_backend("wandb").forwarder
    logger = tracker.get_backend("track").trial
    for step in range(6):
        tracker.log({"loss": 1.0 / (step + 1), "phase": f"epoch-{step}"}, step=step)
        if step in (1, 2):
            tracker.log_image(f"bad-{step}", bad)
        logger.flush()
    tracker.finish()
    run_file = flushed_run_file(tmp_path)
    rows = history(run_file)
    assert {r["track/step"]: r["loss"] for r in rows if "loss" in r} == {
        s: 1.0 / (s + 1) for s in range(6)
    }
    assert summary(run_file)["phase"] == "epoch-5"
    assert forwarder.enabled and dict(forwarder.skipped) == {"images: ItemError": 2}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("could not forward images 'bad-1'" in m for m in messages) == 1
    assert sum("did not forward 2 items" in m for m in messages) == 1
    assert not any("disabled" in m for m in messages)


def test_images_reach_wandb(tmp_path: Path) -> None:
    """With Pillow (the [wandb] extra brings it) a valid image after a broken one reaches wandb."""
    require("PIL", reason="the [wandb] extra brings pillow")
    from track.tracker import setup_tracker

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not an image")
    good = tmp_path / "good.png"
    good.write_bytes(PNG)
    tracker = setup_tracker(
        "p",
        backends="track,wandb",
        outdir=tmp_path,
        uri=f"file://{tmp_path / 'store.json'}",
        wandb_options={"mode": "offline"},
    )
    tracker.log_image("bad", bad)
    tracker.log_image("good", good, caption="one pixel")
    tracker.log({"loss": 0.5}, step=0)
    tracker.finish()
    run_file = flushed_run_file(tmp_path)
    rows = history(run_file)
    [image] = [r for r in rows if "good/_type" in r]
    assert image["good/_type"] == "image-file" and image["good/caption"] == "one pixel"
    assert not any(key.startswith("bad") for r in rows for key in r)
    assert [r["loss"] for r in rows if "loss" in r] == [0.5]


NO_PILLOW_RUN = """
import sys
sys.modules["PIL"] = None  # this process cannot import Pillow, as without the [wandb] extra
from pathlib import Path
from track.tracker import setup_tracker

folder = Path(sys.argv[1])
tracker = setup_tracker("p", backends="track,wandb", outdir=folder,
                        uri=f"file://{folder / 'store.json'}", wandb_options={"mode": "offline"})
flush = tracker.get_backend("track").trial.flush  # one batch per call
tracker.log({"loss": 1.0}, step=0)
flush()
tracker.log_image("plot", sys.argv[2])
flush()
tracker.log({"loss": 0.5}, step=1)
tracker.finish()
"""


def test_no_pillow_skips_image_only(tmp_path: Path) -> None:
    """In a process without Pillow, log_image warns (naming pillow) and later metrics reach wandb."""
    image = tmp_path / "plot.png"
    image.write_bytes(PNG)
    done = subprocess.run(
        [sys.executable, "-c", NO_PILLOW_RUN, str(tmp_path), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_file = flushed_run_file(tmp_path)
    rows = history(run_file)
    assert {r["track/step"]: r["loss"] for r in rows if "loss" in r} == {0: 1.0, 1: 0.5}
    assert "could not forward images 'plot'" in done.stderr and "pillow" in done.stderr
    assert "disabled" not in done.stderr
