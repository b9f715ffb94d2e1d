"""Forward to plain files in ezpz's CSV layout: ``metrics.csv`` and ``config.json``.

``metrics.csv`` has a ``step`` column and one column per metric, in order of first appearance,
one row per log call (a new metric rewrites the file once with the wider header).
``config.json`` is the run's configuration: the trial's parameters updated with what
``log_config`` recorded (metadata ``config``). Values the ezpz-style tracker kept because they
are not numbers (metadata ``summary``) go to ``summary.json``, tables to ``<key>.csv``.

``extras=True`` asks for more: a ``time`` column after ``step``, track's system readings
(``system/...`` metrics), and ``track_uid``, ``name`` and the trial's other metadata (under
``metadata``) in ``config.json``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from track.forward.base import Forwarder, Row
from track.structure import Trial

__all__ = ["SYSTEM_PREFIX", "CSVForwarder"]

#: Metrics track samples on its own (see docs/system-metrics.md): columns only with ``extras``.
SYSTEM_PREFIX = "system/"


class CSVForwarder(Forwarder):
    """Writes ``metrics.csv`` and ``config.json`` into ``outdir`` (default ``track-csv/<uid>``)."""

    name = "csv"

    def __init__(self, outdir: str | os.PathLike[str] | None = None, extras: bool = False) -> None:
        super().__init__()
        self.outdir = Path(outdir) if outdir is not None else None
        self.extras = extras
        self.folder = Path()
        self._columns: list[str] = []
        self._trial: dict[str, Any] = {}
        self._config: dict[str, Any] = {}
        self._metadata: dict[str, Any] = {}

    def start(self, trial: Trial) -> None:
        """Create the output folder, write ``config.json`` and drop a previous run's files."""
        self.folder = self.outdir or Path("track-csv") / trial.uid
        self.folder.mkdir(parents=True, exist_ok=True)
        self._columns = ["step", "time"] if self.extras else ["step"]
        self._trial = {"track_uid": trial.uid, "name": trial.name}
        self._config = dict(trial.parameters)
        self._metadata = {}
        self._write_config()
        for stale in ("metrics.csv", "summary.json"):
            (self.folder / stale).unlink(missing_ok=True)

    def _write_json(self, name: str, document: dict[str, Any]) -> None:
        text = json.dumps(document, indent=2, default=str) + "\n"
        (self.folder / name).write_text(text, encoding="utf-8")

    def _write_config(self) -> None:
        document = dict(self._config)
        if self.extras:
            document = {**self._trial, **document, "metadata": self._metadata}
        self._write_json("config.json", document)

    def log_rows(self, trial: Trial, rows: list[Row]) -> None:
        """Append one CSV row per log call (rewriting the file if a new metric appears)."""
        if not self.extras:
            rows = [
                (step, when, {n: v for n, v in values.items() if not n.startswith(SYSTEM_PREFIX)})
                for step, when, values in rows
            ]
            rows = [row for row in rows if row[2]]
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
                row: dict[str, Any] = {"step": "" if step is None else step, **values}
                if self.extras:
                    row["time"] = when
                writer.writerow(row)

    def log_metadata(self, trial: Trial, metadata: dict[str, Any]) -> None:
        """``config`` into ``config.json``, ``summary`` into ``summary.json``; with ``extras``
        every key under ``metadata`` in ``config.json`` too."""
        config = metadata.get("config")
        if isinstance(config, dict):
            self._config.update(config)
        summary = metadata.get("summary")
        if isinstance(summary, dict):
            self._write_json("summary.json", summary)
        if self.extras:
            self._metadata.update(metadata)
        if isinstance(config, dict) or self.extras:
            self._write_config()

    def log_media(self, trial: Trial, kind: str, key: str, entry: Any) -> None:
        """Write a table to ``<key>.csv`` (images and artifacts stay in the track store)."""
        if kind != "tables":
            return
        with (self.folder / f"{key}.csv").open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(entry["columns"])
            writer.writerows(entry["data"])
