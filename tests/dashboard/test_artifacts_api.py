"""The dashboard's artifact endpoints: the list, streamed downloads, the login rule."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from optional import require

require("starlette")
with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what dev installs
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from test_api import LOCAL  # noqa: E402
from uiprocess import PASSWORD, USER  # noqa: E402

from track.dashboard.app import create_app  # noqa: E402
from track.persistence import get_protocol  # noqa: E402
from track.server.auth import hash_password  # noqa: E402
from track.structure import Trial  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _store(tmp_path: Path) -> tuple[object, Trial, bytes]:
    """A sqlite store with one trial holding a 3 MiB binary, an image and a nested name."""
    protocol = get_protocol(f"sqlite:///{tmp_path / 'ui.db'}")
    trial = Trial(name="t", parameters={"lr": 0.1})
    protocol.new_trial(trial)
    data = os.urandom(3 << 20)
    protocol.put_artifact(trial, "model.bin", io.BytesIO(data))
    protocol.put_artifact(trial, "plots/loss.png", io.BytesIO(PNG))
    protocol.commit()
    return protocol, trial, data


def test_list_and_download_stream_the_bytes(tmp_path: Path) -> None:
    """The list gives name, size, type; a download is the bytes, as an attachment, typed."""
    protocol, trial, data = _store(tmp_path)
    with TestClient(create_app(protocol), base_url=LOCAL) as http:
        listed = http.get(f"/api/trials/{trial.uid}/artifacts").json()
        assert [(a["name"], a["size"], a["media_type"]) for a in listed] == [
            ("model.bin", len(data), "application/octet-stream"),
            ("plots/loss.png", len(PNG), "image/png"),
        ]
        got = http.get(f"/api/trials/{trial.uid}/artifacts/model.bin")
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''model.bin"
        assert got.headers["content-type"] == "application/octet-stream"
        image = http.get(f"/api/trials/{trial.uid}/artifacts/plots/loss.png")
        assert image.content == PNG and image.headers["content-type"] == "image/png"
        assert image.headers["x-content-type-options"] == "nosniff"
        missing = http.get(f"/api/trials/{trial.uid}/artifacts/nope.bin")
        assert missing.status_code == 404 and "nope.bin" in missing.json()["error"]
    protocol.close()


def test_artifacts_need_a_login_when_users_are_set(tmp_path: Path) -> None:
    """Without a session both endpoints answer 401 and no bytes; after a login they serve."""
    protocol, trial, data = _store(tmp_path)
    users = {USER: hash_password(PASSWORD)}
    with TestClient(create_app(protocol, users=users), base_url=LOCAL) as http:
        for path in ("artifacts", "artifacts/model.bin"):
            refused = http.get(f"/api/trials/{trial.uid}/{path}")
            assert refused.status_code == 401 and data[:16] not in refused.content
        logged = http.post("/api/login", json={"username": USER, "password": PASSWORD})
        assert logged.status_code == 200
        assert http.get(f"/api/trials/{trial.uid}/artifacts/model.bin").content == data
    protocol.close()
