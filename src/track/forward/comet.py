"""Comet.ml: a ``comet://workspace/project`` store and a ``comet`` forwarder (``comet_ml``).

The store keeps the trials of this process in memory (reads answer from there) and forwards
every write to Comet. With ``?offline_directory=DIR`` in the URI (or the forwarder's
``offline_directory`` option, or ``COMET_OFFLINE_DIRECTORY``) Comet's offline mode writes one
zip archive per trial into DIR, which ``comet upload`` sends later.

Local files. Images and artifacts are named in a batch by a path (``metadata.artifacts.<label>.
path``). A path is only meaningful, and only safe to read, in the process that logged it: the
same store may run inside ``track serve`` (where any client could name ``/etc/shadow`` or the
server's key file), or receive batches through ``track copy`` and ``track replay`` from another
machine. So the ``comet://`` store never reads a path from a batch unless told it runs in the
trainer's own process (``?local_files=true``); the ``comet`` forwarder, which only a
``TrackClient`` builds, in the process that logs, reads them (``local_files=True``). An image
still goes up from the bytes the batch carries (``base64``, up to 1 MiB). An item that cannot
be uploaded is recorded by name, SHA-256 and size (``log_other("track.<kind>.<key>", ...)``)
with a ``track.forward`` warning.

The store is a :class:`~track.forward.protocol.ForwardingProtocol`, so it lives here, above
``track.persistence``; ``track.persistence.cometml`` (Track 0.0.1's path) names it lazily.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from typing import Any

from track.forward.base import Forwarder, Row, flatten, table_csv
from track.forward.protocol import ForwardingProtocol
from track.persistence.memory import EphemeralProtocol
from track.persistence.utils import URI, parse_uri
from track.structure import Trial

__all__ = ["CometForwarder", "CometProtocol"]

log = logging.getLogger("track.forward")

#: Experiment keywords that keep Comet from logging anything track did not log.
QUIET = {
    "auto_output_logging": False,
    "auto_metric_logging": False,
    "auto_param_logging": False,
    "log_env_details": False,
    "log_git_metadata": False,
    "log_git_patch": False,
    "log_env_gpu": False,
    "log_env_host": False,
    "log_env_cpu": False,
    "log_code": False,
    "parse_args": False,
    "display_summary_level": 0,
}


def _flag(value: Any) -> bool:
    """A boolean option, also from a URI (``true``/``1``/``yes``, ``false``/``0``/``no``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"local_files={value!r}: expected true or false")


class CometForwarder(Forwarder):
    """One Comet experiment per trial: parameters, every metric point, tables and assets.

    ``local_files`` (default True: the forwarder runs where the trial is logged) lets it read
    the files that images and artifacts name; see the module docstring.
    """

    name = "comet"

    def __init__(
        self,
        workspace: str | None = None,
        project: str | None = None,
        offline_directory: str | None = None,
        api_key: str | None = None,
        local_files: bool | str = True,
    ) -> None:
        super().__init__()
        self.local_files = _flag(local_files)
        import comet_ml

        self.comet_ml = comet_ml
        self.workspace = workspace
        self.project = project
        self.offline_directory = offline_directory or os.environ.get("COMET_OFFLINE_DIRECTORY")
        self.api_key = api_key
        self.experiment: Any = None

    def start(self, trial: Trial) -> None:
        """Create an (offline) experiment named after the trial, with its parameters."""
        options: dict[str, Any] = {
            "project_name": self.project or trial.project_id,
            "workspace": self.workspace,
            **QUIET,
        }
        if self.offline_directory:
            os.makedirs(self.offline_directory, exist_ok=True)
            options["offline_directory"] = self.offline_directory
            self.experiment = self.comet_ml.OfflineExperiment(**options)
        else:
            self.experiment = self.comet_ml.Experiment(api_key=self.api_key, **options)
        self.experiment.set_name(trial.name or trial.uid)
        self.experiment.log_other("track_uid", trial.uid)
        if trial.parameters:
            self.experiment.log_parameters(flatten(trial.parameters))
        if trial.tags:
            self.experiment.add_tags([f"{k}={v}" for k, v in trial.tags.items()])

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """``log_metrics`` once per log call, at its step."""
        for step, _, values in rows:
            self.experiment.log_metrics(values, step=step)

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Tables as CSV assets, images with ``log_image``, artifacts with ``log_asset``.

        A local file is read only with ``local_files``; otherwise an image goes up from the
        bytes in the batch, and what cannot go up is recorded by name and hash (a warning).
        """
        path = str(entry.get("path") or "") if isinstance(entry, dict) else ""
        if kind == "tables":
            self.experiment.log_asset_data(table_csv(entry), name=f"{key}.csv")
        elif kind == "images" and self.local_files and os.path.isfile(path):
            self.experiment.log_image(path, name=key)
        elif kind == "images" and entry.get("base64"):
            data = io.BytesIO(base64.b64decode(entry["base64"]))
            self.experiment.log_image(data, name=key)
        elif kind == "artifacts" and self.local_files and entry.get("directory"):
            if not os.path.isdir(path):
                self._by_reference(kind, key, entry, f"{path} is not a directory here")
            else:
                self.experiment.log_asset_folder(path, recursive=True)
        elif kind == "artifacts" and self.local_files and os.path.isfile(path):
            self.experiment.log_asset(path, file_name=f"{key}/{os.path.basename(path)}")
        elif kind in ("images", "artifacts"):
            reason = (
                f"{path} is not a file here"
                if self.local_files
                else "this comet:// store reads no local file named in a batch (the path may "
                "come from a client of track serve or from another machine; add "
                "?local_files=true only when the store runs in the trainer's own process)"
            )
            self._by_reference(kind, key, entry, reason)

    def _by_reference(self, kind: str, key: str, entry: dict[str, Any], reason: str) -> None:
        """Record a file that is not uploaded by name, SHA-256 and size; warn why."""
        path = str(entry.get("path") or "")
        record = {
            "name": os.path.basename(path.rstrip("/\\")) or None,
            "sha256": entry.get("sha256"),
            "size": entry.get("size"),
            "directory": bool(entry.get("directory")),
            "uploaded": False,
        }
        self.experiment.log_other(f"track.{kind}.{key}", json.dumps(record, sort_keys=True))
        log.warning(
            "track: forwarder 'comet': %s %r recorded by name and hash only: %s",
            kind.rstrip("s"),
            key,
            reason,
        )

    def end(self, trial: Trial, status: dict[str, Any] | None) -> None:
        """End the experiment (offline: write its archive)."""
        if self.experiment is not None:
            self.experiment.end()
            self.experiment = None


class CometProtocol(ForwardingProtocol):
    """The ``comet://workspace/project`` store: in-memory reads, every write sent to Comet.

    Reads no file a batch names unless ``?local_files=true`` (see the module docstring).
    """

    def __init__(self, uri: str | URI, **options: Any) -> None:
        parsed = parse_uri(uri)
        project = parsed.path.strip("/") or None
        options = {**parsed.query, **options}
        options["local_files"] = _flag(options.get("local_files", False))
        forwarder = CometForwarder(workspace=parsed.address, project=project, **options)
        super().__init__(EphemeralProtocol(parse_uri("ephemeral:")), [forwarder])
