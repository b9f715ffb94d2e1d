"""Forward to plain files: ``metrics.csv`` (one row per log call) and ``config.json``.

``metrics.csv`` has the columns ``step``, ``time`` and one per metric, in order of first
appearance; a new metric rewrites the file once with the wider header. ``config.json`` holds
the trial's parameters plus ``track_uid``, ``name`` and the metadata; tables go to
``<key>.csv`` as in ezpz's CSV backend.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from track.forward.base import Forwarder, Row
from track.structure import Trial

__all__ = ["CSVForwarder"]


class CSVForwarder(Forwarder):
    """Writes ``metrics.csv`` and ``config.json`` into ``outdir`` (default ``track-csv/<uid>``)."""

    name = "csv"

    def __init__(self, outdir: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.outdir = Path(outdir) if outdir is not None else None
        self.folder = Path()
        self._columns: list[str] = []
        self._config: dict[str, Any] = {}

    def start(self, trial: Trial) -> None:
        """Create the output folder and write ``config.json``."""
        self.folder = self.outdir or Path("track-csv") / trial.uid
        self.folder.mkdir(parents=True, exist_ok=True)
        self._columns = ["step", "time"]
        self._config = {"track_uid": trial.uid, "name": trial.name, **trial.parameters}
        self._write_config()
        path = self.folder / "metrics.csv"
        if path.exists():
            path.unlink()

    def _write_config(self) -> None:
        text = json.dumps(self._config, indent=2, default=str) + "\n"
        (self.folder / "config.json").write_text(text, encoding="utf-8")

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """Append one CSV row per log call (rewriting the file if a new metric appears)."""
        path = self.folder / "metrics.csv"
        new = [n for _, _, values in rows for n in values if n not in self._columns]
        if new or not path.exists():
            old: list[dict[str, str]] = []
            if path.exists():
                with path.open(newline="") as file:
                    old = list(csv.DictReader(file))
            self._columns.extend(dict.fromkeys(new))
            with path.open("w", newline="") as file:
                writer = csv.DictWriter(file, self._columns)
                writer.writeheader()
                writer.writerows(old)
        with path.open("a", newline="") as file:
            writer = csv.DictWriter(file, self._columns)
            for step, when, values in rows:
                writer.writerow({"step": "" if step is None else step, "time": when, **values})

    def log_metadata(self, trial: Trial, metadata: dict[str, Any]) -> None:
        """Keep the trial's metadata under ``metadata`` in ``config.json``."""
        self._config.setdefault("metadata", {}).update(metadata)
        self._write_config()

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Write a table to ``<key>.csv`` (images and artifacts stay in the track store)."""
        if kind != "tables":
            return
        with (self.folder / f"{key}.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(entry["columns"])
            writer.writerows(entry["data"])
