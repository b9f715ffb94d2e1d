"""Artifacts through the server: uploads in chunks (resumable), downloads chunk by chunk.

A client never sends or receives a whole file in one frame. An upload is a series of
``artifact_upload_chunk`` requests ``(upload id, offset, bytes, final)`` that the server
appends to a temporary file named by the user and the upload id; the last chunk carries
``final`` (trial, name, sha256, size, media type), and the server checks the digest before
handing the file to its store's ``put_artifact`` on the store thread. Every chunk's reply says
how many bytes the server holds, and ``artifact_upload_status`` asks it outright, so a client
that lost its connection (or a new process given the same upload id) sends only the rest. A
download is one ``artifact_read`` request per chunk, by offset: the server keeps the store's
iterator between requests and reopens it when the offset does not follow. Uploads untouched
for :data:`ABANDONED` seconds are removed. ``collect_artifacts`` runs the store's collection
on the store thread (it is idempotent, so, like the other transfers, its reply is not cached).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import stat
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from track.errors import ConfigurationError, InvalidValue
from track.persistence.artifacts import CHUNK_SIZE, ArtifactNotFound, CorruptArtifact, checked_name
from track.server.worker import StoreWorker
from track.structure import Trial

__all__ = ["ABANDONED", "ARTIFACT_CALLS", "Transfers", "default_upload_dir", "private_folder"]

#: Requests answered by :class:`Transfers` rather than by a store method of the same name.
ARTIFACT_CALLS = frozenset(
    {
        "list_artifacts",
        "artifact_upload_status",
        "artifact_upload_chunk",
        "artifact_read",
        "collect_artifacts",
    }
)
#: Seconds after its last chunk when an unfinished upload is removed.
ABANDONED = 3600.0
#: Largest chunk a client may send in one request (the client sends CHUNK_SIZE).
MAX_CHUNK = 4 * CHUNK_SIZE
#: Downloads kept open between requests, in all (the least recently used is dropped).
READERS_KEPT = 64
#: Finished uploads remembered so a resent last chunk gets its answer again.
FINISHED_KEPT = 1024
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def default_upload_dir() -> str:
    """Where a server keeps uploads in progress by default (private to this system user)."""
    return os.path.join(tempfile.gettempdir(), f"track-uploads-{os.getuid()}")


def private_folder(path: str) -> str:
    """Make ``path`` (mode 0700) if missing and return it; refuse a folder others could use.

    Uploads in progress hold other users' artifacts. On a shared machine anyone can create
    ``/tmp/track-uploads-<uid>`` first, so an existing folder must be a real directory (not a
    symlink), owned by this user, with no permission for its group or others.
    """
    path = os.path.expanduser(path)
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    problem = None
    if not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory (a symlink or a file)"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    elif info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        problem = f"is open to its group or to everyone (mode {stat.S_IMODE(info.st_mode):04o})"
    if problem:
        raise ConfigurationError(
            f"the upload folder {path} {problem}: uploads in progress would be readable or "
            "replaceable by others. Remove it, fix it (chmod 700), or choose another with "
            "--upload-dir"
        )
    return path


@dataclass
class _Reader:
    """A download in progress: the store's iterator, where it is, and the chunk last sent."""

    chunks: Iterator[bytes]
    sha256: str
    size: int
    position: int = 0
    last: bytes = b""


def _next(chunks: Iterator[bytes]) -> bytes:
    return next(chunks, b"")


class Transfers:
    """The artifact requests of one server: temporary uploads under ``root``, open downloads."""

    def __init__(self, root: str, worker: StoreWorker) -> None:
        self.root = root  # checked by private_folder before the store was opened
        self.worker = worker
        self._finished: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._readers: OrderedDict[tuple[str, str, str], _Reader] = OrderedDict()

    async def answer(self, user: str, session: str, name: str, args: list[Any]) -> Any:
        """The result of the artifact request ``name`` (checked to be in ARTIFACT_CALLS)."""
        loop = asyncio.get_running_loop()
        if name == "list_artifacts":
            (trial,) = _arguments(args, 1)
            infos = await self.worker.call(self.worker.store.list_artifacts, [_trial(trial)])
            return [asdict(info) for info in infos]
        if name == "collect_artifacts":
            _arguments(args, 0)
            collect = self.worker.store.collect_artifacts
            return list(await self.worker.call(collect, [], write=True))
        if name == "artifact_upload_status":
            (upload,) = _arguments(args, 1)
            await loop.run_in_executor(None, self.sweep)
            return await loop.run_in_executor(None, self._held, self._path(user, upload))
        if name == "artifact_upload_chunk":
            upload, offset, data, final = _arguments(args, 4)
            return await self._chunk(user, upload, offset, data, final)
        trial, artifact, offset = _arguments(args, 3)
        if not isinstance(artifact, str) or not isinstance(offset, int) or offset < 0:
            raise TypeError("artifact_read takes (trial, name, offset >= 0)")
        key = (session, _trial(trial).uid, artifact)
        return await self.worker.call(self._read, [key, _trial(trial), artifact, offset])

    # ---- uploads ------------------------------------------------------------------------

    def _path(self, user: str, upload: Any) -> str:
        if not isinstance(upload, str) or not _UPLOAD_ID.fullmatch(upload):
            raise ValueError("an upload id is 8 to 64 letters, digits, '-' or '_'")
        owner = hashlib.sha256(user.encode()).hexdigest()[:16]
        return os.path.join(self.root, f"{owner}-{upload}.part")

    @staticmethod
    def _held(path: str) -> int:
        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            return 0

    async def _chunk(self, user: str, upload: Any, offset: Any, data: Any, final: Any) -> Any:
        path = self._path(user, upload)
        if not isinstance(offset, int) or offset < 0 or not isinstance(data, bytes):
            raise TypeError("artifact_upload_chunk takes (upload id, offset >= 0, bytes, final)")
        if len(data) > MAX_CHUNK:
            raise ValueError(f"a chunk holds at most {MAX_CHUNK} bytes, not {len(data)}")
        if final is not None and path in self._finished:
            return self._finished[path]  # a resent last chunk: already stored
        loop = asyncio.get_running_loop()
        held = await loop.run_in_executor(None, self._write, path, offset, data)
        if final is None:
            return {"held": held}
        trial, name, sha256, size, media_type = _final(final)
        if held != size:
            return {"held": held}  # bytes are missing: the client sends them, then finishes
        await loop.run_in_executor(None, self._check_digest, path, sha256)
        try:
            info = await self.worker.call(
                self.worker.store.put_artifact, [trial, name, path, media_type], write=True
            )
        finally:
            await loop.run_in_executor(None, _unlink, path)
        result = {"held": held, "info": asdict(info)}
        self._finished[path] = result
        if len(self._finished) > FINISHED_KEPT:
            self._finished.popitem(last=False)
        return result

    def _write(self, path: str, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` (at most where the upload ends); returns the bytes held."""
        held = self._held(path)
        if offset > held:
            return held  # a gap: the client resumes from what is held
        if offset + len(data) > held or not os.path.exists(path):  # (an empty file: created)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "r+b") as file:
                file.seek(offset)
                file.write(data)
            held = offset + len(data)
        else:
            os.utime(path)  # a resend of bytes already held: the upload is still alive
        return held

    @staticmethod
    def _check_digest(path: str, sha256: str) -> None:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            while chunk := file.read(CHUNK_SIZE):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            _unlink(path)
            raise CorruptArtifact(
                f"the uploaded bytes have sha256 {digest.hexdigest()}, not {sha256}: refused"
            )

    def sweep(self, now: float | None = None) -> int:
        """Remove uploads untouched for :data:`ABANDONED` seconds; returns how many."""
        now = time.time() if now is None else now
        removed = 0
        for entry in os.scandir(self.root):
            if entry.name.endswith(".part") and now - entry.stat().st_mtime > ABANDONED:
                _unlink(entry.path)
                removed += 1
        return removed

    # ---- downloads (on the store thread) ------------------------------------------------

    def _read(self, key: tuple[str, str, str], trial: Trial, name: str, offset: int) -> Any:
        store = self.worker.store
        reader = self._readers.pop(key, None)
        if reader is not None and reader.last and offset == reader.position - len(reader.last):
            data = reader.last  # the reply to this request was lost: send it again
        else:
            if reader is None or offset != reader.position:
                found = [info for info in store.list_artifacts(trial) if info.name == name]
                if not found:
                    raise ArtifactNotFound(f"trial {trial.uid!r} has no artifact {name!r}")
                reader = _Reader(store.open_artifact(trial, name), found[0].sha256, found[0].size)
                skipped = b""
                while reader.position < offset and (skipped := _next(reader.chunks)):
                    reader.position += len(skipped)
                if reader.position > offset:  # the offset falls inside the last chunk read
                    reader.last = skipped[len(skipped) - (reader.position - offset) :]
                    return self._keep(key, reader, reader.last)
            data = _next(reader.chunks)
            reader.position += len(data)
            reader.last = data
        return self._keep(key, reader, data)

    def _keep(self, key: tuple[str, str, str], reader: _Reader, data: bytes) -> dict[str, Any]:
        if data:
            self._readers[key] = reader
            if len(self._readers) > READERS_KEPT:
                self._readers.popitem(last=False)
        return {"data": data, "sha256": reader.sha256, "size": reader.size}


def _arguments(args: list[Any], count: int) -> list[Any]:
    if len(args) != count:
        raise TypeError(f"this artifact request takes {count} arguments, not {len(args)}")
    return args


def _trial(value: Any) -> Trial:
    if not isinstance(value, Trial):
        raise TypeError("an artifact request names its trial with a trial reference")
    return value


def _final(final: Any) -> tuple[Trial, str, str, int, str | None]:
    """The last chunk's ``{trial, name, sha256, size, media_type}``, checked."""
    if not isinstance(final, dict):
        raise TypeError("final must be a map")
    trial, name = _trial(final.get("trial")), final.get("name")
    sha256, size, media_type = final.get("sha256"), final.get("size"), final.get("media_type")
    if not isinstance(name, str) or not isinstance(size, int) or size < 0:
        raise TypeError("final needs a name and a size")
    if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise InvalidValue("final needs the sha256 of the whole file (64 hex digits)")
    if media_type is not None and not isinstance(media_type, str):
        raise TypeError("media_type must be a string or None")
    return trial, checked_name(name), sha256, size, media_type


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
