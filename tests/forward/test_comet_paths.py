"""A comet:// store never reads a file a batch names, unless it runs in the trainer's process."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

from optional import require
from server.trackserver import running_server
from track import TrackClient

require("comet_ml", reason="needs comet_ml (pip install track[comet])")

#: A 1x1 PNG: an image whose bytes travel in the batch (``base64``).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def archive(folder: Path) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The messages and the other members (uploaded files) of the one offline archive in ``folder``."""
    [path] = folder.glob("*.zip")
    with zipfile.ZipFile(path) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    lines = members.pop("messages.json").decode().splitlines()
    members.pop("experiment.json", None)
    return [json.loads(line) for line in lines if line.strip()], members


def others(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``log_other`` values by key."""
    return {
        m["payload"]["key"]: m["payload"]["value"] for m in messages if m["type"] == "log_other"
    }


def uploads(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The file upload messages."""
    return [m["payload"] for m in messages if m["type"] == "file_upload"]


def secret_file(folder: Path) -> tuple[Path, dict[str, Any]]:
    """A file only the server may read, and an artifact entry naming it as a client would."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "server-key.pem"
    content = b"SERVER-ONLY-SECRET-0123456789"
    path.write_bytes(content)
    entry = {"path": str(path), "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    return path, entry


def log_media(client: TrackClient, artifact: dict[str, Any], image: dict[str, Any]) -> None:
    """One finished trial whose metadata names the artifact and the image."""
    trial = client.new_trial(name="paths")
    with trial:
        trial.log_metrics(step=0, loss=1.0)
        trial.log_metadata(artifacts={"model": artifact}, images={"plot": image})
    client.close()


def test_comet_store_in_track_serve_never_reads_client_paths(tmp_path: Path) -> None:
    """``track serve --store comet://``: a client-named server file is recorded by hash, not read."""
    secret, artifact = secret_file(tmp_path / "server-only")
    out = tmp_path / "comet"
    image = {"path": str(secret), "sha256": artifact["sha256"], "size": artifact["size"]}
    sent_png = {"path": "/client/plot.png", "size": len(PNG)}
    sent_png["base64"] = base64.b64encode(PNG).decode()
    store = f"comet://ws/proj?offline_directory={out}"
    with running_server(tmp_path, store) as server:
        client = TrackClient(server.uri())
        trial = client.new_trial(name="paths")
        with trial:
            trial.log_metrics(step=0, loss=1.0)
            trial.log_metadata(
                artifacts={"model": artifact}, images={"plot": image, "inline": sent_png}
            )
        client.close()
        assert server.stop() == 0
        log = server.log()
    messages, members = archive(out)
    assert not any(secret.read_bytes() in data for data in members.values())
    [upload] = uploads(messages)  # only the image whose bytes came in the batch
    assert upload["additional_params"]["figName"] == "inline"
    assert PNG in members.values()
    recorded = json.loads(others(messages)["track.artifacts.model"])
    assert recorded == {
        "name": "server-key.pem",
        "sha256": artifact["sha256"],
        "size": artifact["size"],
        "directory": False,
        "uploaded": False,
    }
    assert json.loads(others(messages)["track.images.plot"])["sha256"] == artifact["sha256"]
    assert "artifact 'model' recorded by name and hash only" in log
    assert "image 'plot' recorded by name and hash only" in log


def test_comet_store_reads_local_files_only_when_told(tmp_path: Path, caplog) -> None:
    """In the trainer's process ``?local_files=true`` uploads the file; without it, a warning."""
    from track.persistence import make_comet_ml

    path, artifact = secret_file(tmp_path / "mine")
    image = {"path": str(path), "size": artifact["size"]}
    for local, out in (("true", tmp_path / "with"), ("false", tmp_path / "without")):
        store = make_comet_ml(f"comet://ws/proj?offline_directory={out}&local_files={local}")
        with caplog.at_level(logging.WARNING, logger="track.forward"):
            log_media(TrackClient(store), artifact, image)
    messages, members = archive(tmp_path / "with")
    assert path.read_bytes() in members.values()
    assert "model/server-key.pem" in [
        u["additional_params"].get("fileName") for u in uploads(messages)
    ]
    messages, members = archive(tmp_path / "without")
    assert uploads(messages) == [] and path.read_bytes() not in members.values()
    assert "track.artifacts.model" in others(messages)
    warned = [r.getMessage() for r in caplog.records]
    assert sum("recorded by name and hash only" in m for m in warned) == 2


def test_comet_forwarder_uploads_the_trainers_files(tmp_path: Path, caplog) -> None:
    """The ``comet`` forwarder runs where the trial is logged: it uploads files that exist and
    records a vanished one by hash with a warning, instead of dropping it silently."""
    from track.forward.comet import CometForwarder

    path, artifact = secret_file(tmp_path / "mine")
    gone = {**artifact, "path": str(tmp_path / "deleted.bin")}
    out = tmp_path / "comet"
    client = TrackClient(
        f"file://{tmp_path / 'store.json'}",
        forward=[CometForwarder("ws", "proj", offline_directory=str(out))],
    )
    with caplog.at_level(logging.WARNING, logger="track.forward"):
        log_media(client, artifact, gone)
    messages, members = archive(out)
    assert path.read_bytes() in members.values()
    assert json.loads(others(messages)["track.images.plot"])["name"] == "deleted.bin"
    assert any("is not a file here" in r.getMessage() for r in caplog.records)
