"""Artifacts: files of any size stored content-addressed (sha256), streamed in fixed chunks.

A trial's artifacts are an index of :class:`ArtifactInfo` (name, size, sha256, time, media
type) kept by the store, and the bytes, kept once per distinct content. Bytes are never held
whole in memory: a write hashes while it copies with a fixed buffer (:data:`CHUNK_SIZE`) into
a temporary file renamed into place (:class:`FolderBlobs`), and a read is an iterator of
chunks whose digest is checked as it goes (:func:`verified`), so a corrupted stored file
raises :class:`CorruptArtifact` at its end instead of passing unnoticed.

Where the bytes live depends on the store: a folder beside the store's file for ``file://``,
``pickled://`` and ``sqlite://`` (``<store file>.artifacts/``), a table of chunks for
PostgreSQL (see docs/artifacts.md).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from track.errors import InvalidValue, NotFound, TrackError

__all__ = [
    "CHUNK_SIZE",
    "ArtifactInfo",
    "ArtifactNotFound",
    "ArtifactSource",
    "ArtifactsUnsupported",
    "CorruptArtifact",
    "FolderBlobs",
    "checked_name",
    "copy_chunks",
    "guess_media_type",
    "opened",
    "read_chunks",
    "verified",
]

#: Bytes read, hashed, written or sent at a time (1 MiB): the bound on memory per transfer.
CHUNK_SIZE = 1 << 20

#: What ``put_artifact`` reads from: an open binary file or a path.
ArtifactSource = BinaryIO | str | os.PathLike[str]


class ArtifactsUnsupported(TrackError, NotImplementedError):
    """This store does not keep artifacts (the message says which stores do)."""


class ArtifactNotFound(NotFound):
    """The trial has no artifact of that name."""


class CorruptArtifact(TrackError):
    """A stored artifact's bytes no longer match its recorded sha256."""


@dataclass(frozen=True)
class ArtifactInfo:
    """One entry of a trial's artifact index: what was stored under ``name``, and when."""

    trial: str
    name: str
    size: int
    sha256: str
    time: float
    media_type: str

    def to_doc(self) -> dict[str, Any]:
        """The entry as a JSON-native document (without the trial, which holds it)."""
        doc = asdict(self)
        del doc["trial"]
        return doc

    @classmethod
    def from_doc(cls, trial: str, doc: dict[str, Any]) -> ArtifactInfo:
        """Rebuild an entry of ``trial`` from :meth:`to_doc` output."""
        return cls(
            trial=trial,
            name=str(doc["name"]),
            size=int(doc["size"]),
            sha256=str(doc["sha256"]),
            time=float(doc["time"]),
            media_type=str(doc["media_type"]),
        )


def checked_name(name: str) -> str:
    """``name`` if it can name an artifact (a non-empty string without NUL), else InvalidValue."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise InvalidValue(f"an artifact name must be a non-empty string, not {name!r}")
    return name


def guess_media_type(name: str) -> str:
    """The media type of a file called ``name`` (``application/octet-stream`` when unknown)."""
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


@contextmanager
def opened(source: ArtifactSource) -> Iterator[BinaryIO]:
    """``source`` as an open binary file: a path is opened (and closed), a file passed as is."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            yield file
    else:
        yield source


def read_chunks(file: BinaryIO, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The bytes of ``file`` from its position to its end, ``size`` bytes at a time."""
    while chunk := file.read(size):
        yield chunk


def verified(chunks: Iterable[bytes], sha256: str, what: str) -> Iterator[bytes]:
    """``chunks`` passed on while hashed; raises CorruptArtifact at the end on a mismatch.

    A caller that must not keep bad bytes writes them to a temporary file and keeps it only
    once the iterator is exhausted (:func:`copy_chunks`).
    """
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != sha256:
        raise CorruptArtifact(
            f"{what}: stored bytes have sha256 {digest.hexdigest()}, expected {sha256}"
        )


def copy_chunks(chunks: Iterable[bytes], destination: str) -> int:
    """Write ``chunks`` to ``destination`` through a temporary file renamed into place.

    Returns the number of bytes written. If the chunks raise (a digest mismatch, a lost
    connection) the temporary file is removed and ``destination`` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(destination))
    descriptor, temporary = tempfile.mkstemp(prefix=".track-artifact-", dir=folder)
    size = 0
    try:
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
                size += len(chunk)
        os.replace(temporary, destination)
    except BaseException:
        os.unlink(temporary)
        raise
    return size


class FolderBlobs:
    """Distinct contents stored once as files named by their sha256, under ``root``.

    ``root/ab/cdef...`` holds the content whose digest is ``abcdef...``. A write goes to a
    temporary file in ``root`` (same filesystem) and is renamed into place once hashed, so
    readers never see a partial file and two writers of the same content both succeed.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, sha256: str) -> str:
        """Where the content with this digest is kept."""
        return os.path.join(self.root, sha256[:2], sha256[2:])

    def put(self, source: BinaryIO) -> tuple[str, int]:
        """Store the rest of ``source``; returns its ``(sha256, size)``."""
        os.makedirs(self.root, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".partial-", dir=self.root)
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(descriptor, "wb") as file:
                for chunk in read_chunks(source):
                    digest.update(chunk)
                    file.write(chunk)
                    size += len(chunk)
                file.flush()
                os.fsync(file.fileno())
            sha256 = digest.hexdigest()
            target = self.path(sha256)
            if os.path.exists(target):
                os.unlink(temporary)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        return sha256, size

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The stored content with this digest, chunk by chunk (not verified: see verified)."""
        try:
            file = open(self.path(sha256), "rb")  # noqa: SIM115 (closed below, lazily)
        except FileNotFoundError:
            raise CorruptArtifact(f"the content {sha256} is missing from {self.root}") from None
        with file:
            yield from read_chunks(file)
