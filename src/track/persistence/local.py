"""``file://path.json``: the whole store in one JSON file, safe for many processes at once.

Every transaction holds an ``fcntl`` lock on ``<file>.lock`` (shared to read, exclusive to
write). The kernel drops the lock of a killed process, so a ``kill -9`` never leaves a lock
to wait on. A transaction re-reads the file only when another process replaced it since
this process last saw it, and a write replaces the file atomically (temporary file, fsync,
rename), so readers never see a torn file. The write pipeline calls this store once per flush
interval, not once per log call, and only trials that changed are encoded again.

The file is JSON that ``json.load`` reads (NaN and infinities as ``NaN``/``Infinity``), laid
out with one trial per line::

    {"format": "track/1",
    "projects": {...},
    "groups": {...},
    "writers": {...},
    "trials": {
    "<uid>": {"uid": ..., "parameters": {...}, "metrics": {"loss": [[step, value, time], ...]}, ...},
    ...
    }}
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from typing import Any

from track.persistence.documents import DocumentStore, empty_state
from track.persistence.protocol import TrialBatch
from track.persistence.utils import URI, parse_uri

__all__ = ["FileProtocol"]


class FileProtocol(DocumentStore):
    """A store in one file; ``strict`` and ``eager`` are accepted for the seed API.

    ``eager=False`` keeps writes in memory until :meth:`commit`, for a single process that
    wants the fewest rewrites; the default writes at every transaction (every flush).
    """

    def __init__(self, uri: str | URI, strict: bool = True, eager: bool = True) -> None:
        super().__init__()
        self.uri = parse_uri(uri)
        self.path = os.path.abspath(self.uri.location)
        if not self.uri.location:
            raise ValueError(f"{self.uri.raw!r} names no file (use {self.uri.scheme}://run.json)")
        self.strict = strict
        self.eager = eager
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._lock_file = open(self.path + ".lock", "a+b")  # noqa: SIM115 (held for life)
        self._signature: tuple[int, int, int] | None = None
        self._encoded_trials: dict[str, str] = {}

    # ---- transaction hooks --------------------------------------------------------------

    def _begin(self, write: bool) -> None:
        fcntl.flock(self._lock_file, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return
        signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if signature != self._signature:
            with open(self.path, "rb") as file:
                data = file.read()
            self._state = self._decode(data) if data else empty_state()
            self._encoded_trials.clear()
            self._signature = signature

    def _end(self) -> None:
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _save(self) -> None:
        for uid in self._changed:
            self._encoded_trials.pop(uid, None)
        if self.eager:
            self._write(self.path)

    def _batch_applied(self, uid: str, batch: TrialBatch) -> None:
        encoded = self._encoded_trials.get(uid)
        if encoded is None or uid in self._changed:
            self._changed.add(uid)
            return
        encoded.append_points(batch.series)
        if batch.metadata or batch.tags or batch.chronos or batch.status or batch.errors:
            encoded.head = None

    def commit(self, file_name_override: str | None = None, **kwargs: Any) -> None:
        """Write the state now (to ``file_name_override`` when given, e.g. a copy).

        In the default eager mode every transaction already wrote the file, so only a copy
        to another file does any work.
        """
        if self.eager and file_name_override is None:
            return
        with self._transaction(write=False):
            self._write(os.path.abspath(file_name_override or self.path))

    def close(self) -> None:
        """Write pending changes (lazy mode) and release the lock file."""
        if not self.eager:
            self.commit()
        self._lock_file.close()

    # ---- encoding -----------------------------------------------------------------------

    def _decode(self, data: bytes) -> dict[str, Any]:
        state = json.loads(data)
        if not isinstance(state, dict) or "trials" not in state:
            raise ValueError(f"{self.path} is not a track store file")
        return state

    def _encode(self) -> bytes:
        state = self._state
        cache = self._encoded_trials
        lines = []
        for uid, doc in state["trials"].items():
            encoded = cache.get(uid)
            if encoded is None:
                encoded = cache[uid] = _EncodedTrial(doc)
            lines.append(f"{json.dumps(uid)}: {encoded.text(doc)}")
        head = ",\n".join(
            f"{json.dumps(key)}: {json.dumps(state.get(key, {}), ensure_ascii=False)}"
            for key in ("projects", "groups", "writers")
        )
        text = (
            f'{{"format": {json.dumps(state.get("format"))},\n{head},\n"trials": {{\n'
            + ",\n".join(lines)
            + "\n}}\n"
        )
        return text.encode("utf-8")

    def _write(self, path: str) -> None:
        data = self._encode()
        folder = os.path.dirname(path)
        descriptor, temporary = tempfile.mkstemp(prefix=".track-", dir=folder)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        if path == self.path:
            stat = os.stat(path)
            self._signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class _EncodedTrial:
    """A trial's JSON text kept in pieces, so a flush encodes only the points it adds.

    Metrics only ever grow by appending, so each series is kept as a list of encoded chunks
    (``[s,v,t],[s,v,t]``); the rest of the document (``head``) is encoded again only when a
    batch changed it.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self.head: str | None = None
        self.series: dict[str, list[str]] = {}
        for name, points in doc.get("metrics", {}).items():
            self.series[name] = [_points_text(points)] if points else []

    def append_points(self, series: dict[str, list[Any]]) -> None:
        for name, points in series.items():
            self.series.setdefault(name, []).append(_points_text(points))

    def text(self, doc: dict[str, Any]) -> str:
        if self.head is None:
            rest = {k: v for k, v in doc.items() if k != "metrics"}
            self.head = json.dumps(rest, ensure_ascii=False)[:-1]
        metrics = ", ".join(
            f"{json.dumps(name, ensure_ascii=False)}: [{','.join(chunks)}]"
            for name, chunks in self.series.items()
        )
        return f'{self.head}, "metrics": {{{metrics}}}}}'


def _points_text(points: list[list[Any]]) -> str:
    return json.dumps(points, ensure_ascii=False)[1:-1]
