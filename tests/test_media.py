"""TrialLogger.log_image / log_table: PNG and JSON artifacts plus the metadata.media index."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from optional import require
from track import TrackClient
from track.errors import InvalidValue

StoreKinds = dict[str, Callable[[Path], AbstractContextManager[str]]]


@pytest.fixture(params=["sqlite", "file"])
def uri(request: pytest.FixtureRequest, tmp_path: Path, store_kinds: StoreKinds) -> object:
    """A fresh sqlite or file store."""
    with store_kinds[request.param](tmp_path) as store_uri:
        yield store_uri


def test_images_round_trip_as_png(uri: str, tmp_path: Path) -> None:
    """Arrays (uint8 and float), PIL images and files come back as PNGs with the same pixels."""
    np = require("numpy")
    image_module = require("PIL.Image")
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 3
    gray = np.linspace(0, 1, 12).reshape(3, 4)
    jpeg = tmp_path / "photo.jpg"
    image_module.fromarray(rgb).save(jpeg, format="JPEG")
    png = tmp_path / "plot.png"
    image_module.fromarray(rgb).save(png)
    client = TrackClient(uri)
    trial = client.new_trial(name="media")
    trial.log_image("rgb", rgb, step=0, caption="first")
    trial.log_image("rgb", image_module.fromarray(rgb[::-1]), step=1)
    trial.log_image("gray", gray)
    trial.log_image("file", png)
    trial.log_image("file", jpeg)
    trial.flush()

    def pixels(name: str) -> object:
        data = b"".join(client.protocol.open_artifact(trial.trial, name))
        assert data.startswith(b"\x89PNG")
        return np.asarray(image_module.open(io.BytesIO(data)))

    assert (pixels("media/rgb/0.png") == rgb).all()
    assert (pixels("media/rgb/1.png") == rgb[::-1]).all()
    assert (pixels("media/gray/0.png") == np.rint(gray * 255).astype(np.uint8)).all()
    assert (
        b"".join(client.protocol.open_artifact(trial.trial, "media/file/0.png")) == png.read_bytes()
    )
    assert pixels("media/file/1.png").shape == (4, 5, 3)
    stored = client.protocol.fetch_trials({"uid": trial.uid})[0]
    assert stored.metadata["media"]["rgb"] == [
        {"step": 0, "artifact": "media/rgb/0.png", "kind": "image", "caption": "first"},
        {"step": 1, "artifact": "media/rgb/1.png", "kind": "image", "caption": None},
    ]
    assert [e["artifact"] for e in stored.metadata["media"]["file"]] == [
        "media/file/0.png",
        "media/file/1.png",
    ]
    client.close()


def test_table_round_trip_and_bad_cell(uri: str) -> None:
    """A table is stored as {"columns", "rows"} JSON; an unserializable cell is named."""
    client = TrackClient(uri)
    trial = client.new_trial(name="tables")
    trial.log_table("preds", ["x", "label"], [[1, "a"], [2.5, None]], step=7)
    with pytest.raises(InvalidValue, match=r"bad\[1\]\['label'\]"):
        trial.log_table("bad", ["x", "label"], [[1, "a"], [2, object()]])
    with pytest.raises(InvalidValue, match="row 0 has 1 cells"):
        trial.log_table("bad", ["x", "label"], [[1]])
    trial.flush()
    data = b"".join(client.protocol.open_artifact(trial.trial, "media/preds/7.json"))
    assert json.loads(data) == {"columns": ["x", "label"], "rows": [[1, "a"], [2.5, None]]}
    stored = client.protocol.fetch_trials({"uid": trial.uid})[0]
    assert stored.metadata["media"] == {
        "preds": [{"step": 7, "artifact": "media/preds/7.json", "kind": "table", "caption": None}]
    }
    assert [a.name for a in trial.artifacts] == ["media/preds/7.json"]
    client.close()


def test_bad_images_are_refused(tmp_path: Path) -> None:
    """A wrong shape, an out-of-range float array or a file that is no image raise InvalidValue."""
    np = require("numpy")
    require("PIL.Image")
    client = TrackClient(f"sqlite:///{tmp_path / 'db.sqlite'}")
    trial = client.new_trial(name="bad")
    with pytest.raises(InvalidValue, match="HxW"):
        trial.log_image("x", np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(InvalidValue, match=r"\[0, 1\]"):
        trial.log_image("x", np.full((2, 2), 2.0))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(InvalidValue, match="not an image"):
        trial.log_image("x", text)
    client.close()


def test_ezpz_tracker_stores_images_and_tables_as_artifacts(tmp_path: Path) -> None:
    """setup_tracker's log_image/log_table store artifacts and keep their metadata entries."""
    from track.tracker import setup_tracker

    png = b"\x89PNG\r\n\x1a\n" + b"not decoded: a PNG file is stored as it is"
    image = tmp_path / "plot.png"
    image.write_bytes(png)
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    tracker = setup_tracker("ez", backends="track", uri=uri)
    tracker.log_image("plot", image, caption="a plot")
    tracker.log_table("preds", ["x"], [[1], [2]])
    tracker.finish()
    client = TrackClient(uri)
    (stored,) = client.protocol.fetch_trials({})
    assert stored.metadata["images"]["plot"]["artifact"] == "media/plot/0.png"
    assert stored.metadata["tables"]["preds"] == {"columns": ["x"], "data": [[1], [2]]}
    assert b"".join(client.protocol.open_artifact(stored, "media/plot/0.png")) == png
    table = json.loads(b"".join(client.protocol.open_artifact(stored, "media/preds/0.json")))
    assert table == {"columns": ["x"], "rows": [[1], [2]]}
    client.close()
