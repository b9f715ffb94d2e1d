"""Artifacts: files of any size stored content-addressed (sha256), streamed in fixed chunks.

A trial's artifacts are an index of :class:`ArtifactInfo` (name, size, sha256, time, media
type) kept by the store, and the bytes, kept once per distinct content. Bytes are never held
whole in memory: a write hashes while it copies with a fixed buffer (:data:`CHUNK_SIZE`) into
a temporary file renamed into place (:class:`FolderBlobs`), and a read is an iterator of
chunks whose digest is checked as it goes (:func:`verified`), so a corrupted stored file
raises :class:`CorruptArtifact` at its end instead of passing unnoticed.

Where the bytes live depends on the store: a folder beside the store's file for ``file://``,
``pickled://`` and ``sqlite://`` (``<store file>.artifacts/``), a table of chunks for
PostgreSQL, or the folder a URI names with ``?artifact_root=`` (:func:`configured_root`; see
docs/artifacts.md).

**Collecting unreferenced contents.** A store's ``collect_artifacts`` removes the contents no
trial's index names any more (deleting a trial removes only its index entries). It cannot
lose bytes to a concurrent put because both sides hold the store's write lock at the moment
that matters: a put stages its bytes outside the lock (:meth:`FolderBlobs.stage`), then, under
the lock and in the transaction that writes the index entry, links them into place
(:meth:`FolderBlobs.place`); a collection decides what is unreferenced and removes it under
the same lock (:meth:`FolderBlobs.collect`). Staged files never count as contents, and are
removed only once :data:`ABANDONED`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import mimetypes
import os
import re
import tempfile
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from track.errors import ConfigurationError, InvalidValue, NotFound, TrackError
from track.persistence.utils import URI

__all__ = [
    "ABANDONED",
    "CHUNK_SIZE",
    "ROOT_OPTION",
    "ArtifactInfo",
    "ArtifactNotFound",
    "ArtifactSource",
    "ArtifactsUnsupported",
    "ChunkReader",
    "CorruptArtifact",
    "FolderBlobs",
    "Staged",
    "checked_name",
    "configured_root",
    "copy_chunks",
    "guess_media_type",
    "opened",
    "read_chunks",
    "verified",
]

#: Bytes read, hashed, written or sent at a time (1 MiB): the bound on memory per transfer.
CHUNK_SIZE = 1 << 20
#: The store URI option naming the folder that holds artifact bytes.
ROOT_OPTION = "artifact_root"
#: Seconds after which a staged file (or PostgreSQL's partial rows) of a put that never
#: finished is abandoned: collect_artifacts removes it. A put still writing is far younger.
ABANDONED = 24 * 3600.0
#: The file naming the store that owns a configured artifact_root (see FolderBlobs.claim).
OWNER_FILE = ".track-store"
_STAGED_PREFIX = ".partial-"
_HEX2 = re.compile(r"[0-9a-f]{2}")
_HEX62 = re.compile(r"[0-9a-f]{62}")

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


def configured_root(uri: URI, create: bool = True) -> str | None:
    """The absolute folder the URI's ``artifact_root=`` option names (None without one).

    A relative path is taken from the current directory, ``~`` is expanded. A missing folder
    is created (unless ``create`` is False: a read-only open creates nothing); a path that is
    not a usable folder is a :class:`~track.errors.ConfigurationError`.
    """
    value = uri.query.get(ROOT_OPTION)
    if value is None:
        return None
    if not value.strip():
        raise ConfigurationError(f"{ROOT_OPTION}= is empty: name the folder for artifact bytes")
    root = os.path.abspath(os.path.expanduser(value))
    if os.path.exists(root) and not os.path.isdir(root):
        raise ConfigurationError(f"{ROOT_OPTION}={value}: {root} exists and is not a folder")
    if create:
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(
                f"{ROOT_OPTION}={value}: cannot create {root} ({error.strerror or error})"
            ) from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise ConfigurationError(f"{ROOT_OPTION}={value}: {root} is not writable")
    return root


class ChunkReader(io.RawIOBase):
    """An iterator of byte chunks read as a binary file, one chunk held at a time.

    What ``open_artifact`` returns, made a source for another store's ``put_artifact``
    (``track copy``): nothing is read ahead, so a copy never holds a whole file.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        """Always: this is a source of bytes."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the current chunk (fetching the next when it is used up)."""
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


@dataclass(frozen=True)
class Staged:
    """Bytes copied into a temporary file of a :class:`FolderBlobs` and hashed, not yet placed."""

    sha256: str
    size: int
    path: str


class FolderBlobs:
    """Distinct contents stored once as files named by their sha256, under ``root``.

    ``root/ab/cdef...`` holds the content whose digest is ``abcdef...``. A write is staged in a
    temporary file in ``root`` (same filesystem), then hard-linked into place once hashed, so
    readers never see a partial file and two writers of the same content both succeed.
    ``owner`` names the store for a folder configured with ``artifact_root`` (None for the
    default folder beside a store's file, which no other store uses): see :meth:`claim`.
    """

    def __init__(self, root: str, owner: str | None = None) -> None:
        self.root = root
        self.owner = owner

    def path(self, sha256: str) -> str:
        """Where the content with this digest is kept."""
        return os.path.join(self.root, sha256[:2], sha256[2:])

    def stage(self, source: BinaryIO) -> Staged:
        """Copy the rest of ``source`` into a temporary file of the folder, hashing it.

        Needs no lock: the staged file is not a content until :meth:`place`. The caller
        removes it with :meth:`discard` once the put is over, whatever the outcome.
        """
        try:
            os.makedirs(self.root, exist_ok=True)
            self._mark()
            descriptor, temporary = tempfile.mkstemp(prefix=_STAGED_PREFIX, dir=self.root)
        except OSError as error:
            raise ConfigurationError(
                f"cannot write artifacts into {self.root}: {error.strerror or error}"
            ) from None
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(descriptor, "wb") as file:
                for chunk in read_chunks(source):
                    digest.update(chunk)
                    file.write(chunk)
                    size += len(chunk)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            _remove(temporary)
            raise
        return Staged(digest.hexdigest(), size, temporary)

    def place(self, staged: Staged) -> None:
        """Make the staged bytes the stored content of their digest (nothing if it is stored).

        Call it under the store's write lock, in the transaction that writes the index entry,
        so that no collection runs between the two. The staged file stays (this is a hard
        link) until :meth:`discard`, so a transaction retried after a failure places it again.
        """
        target = self.path(staged.sha256)
        if os.path.exists(target):
            return
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(staged.path, target)
        except FileExistsError:
            return
        except FileNotFoundError:
            raise TrackError(
                f"the staged copy {staged.path} is gone (removed as abandoned?): put it again"
            ) from None
        except OSError:  # a filesystem without hard links: the staged file itself moves
            os.replace(staged.path, target)

    def discard(self, staged: Staged) -> None:
        """Remove the staged file (placed or not): the put is over."""
        _remove(staged.path)

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The stored content with this digest, chunk by chunk (not verified: see verified)."""
        try:
            file = open(self.path(sha256), "rb")  # noqa: SIM115 (closed below, lazily)
        except FileNotFoundError:
            raise CorruptArtifact(f"the content {sha256} is missing from {self.root}") from None
        with file:
            yield from read_chunks(file)

    def contents(self) -> Iterator[tuple[str, str]]:
        """``(sha256, path)`` of every stored content; other files in the folder are left alone."""
        if not os.path.isdir(self.root):
            return
        for top in os.scandir(self.root):
            if not (_HEX2.fullmatch(top.name) and top.is_dir(follow_symlinks=False)):
                continue
            for entry in os.scandir(top.path):
                if _HEX62.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    yield top.name + entry.name, entry.path

    def collect(self, referenced: Collection[str], now: float | None = None) -> tuple[int, int]:
        """Remove the contents not in ``referenced``, and staged files older than ABANDONED.

        Returns ``(contents removed, bytes freed)`` (abandoned staged files count in the
        bytes). Call it under the store's write lock, with ``referenced`` read under it.
        """
        if not os.path.isdir(self.root):
            return 0, 0
        self.claim()
        count = freed = 0
        for sha256, path in list(self.contents()):
            if sha256 not in referenced:
                freed += _remove(path)
                count += 1
        now = time.time() if now is None else now
        for entry in os.scandir(self.root):
            staged = entry.name.startswith(_STAGED_PREFIX) and entry.is_file(follow_symlinks=False)
            if staged and now - entry.stat().st_mtime > ABANDONED:
                freed += _remove(entry.path)
        return count, freed

    def claim(self) -> None:
        """Refuse to collect in a configured folder that another store's marker names.

        A collection removes what no trial of *this* store references: in a folder two stores
        share, that would be the other store's artifacts. The first put or collection writes
        ``OWNER_FILE`` naming the store; a store it does not name may still put, never collect.
        """
        if self.owner is None:
            return
        owner = self._mark()
        if owner != self.owner:
            raise ConfigurationError(
                f"{self.root} holds the artifacts of another store ({owner}, says "
                f"{os.path.join(self.root, OWNER_FILE)}), not of {self.owner}: collecting here "
                "would remove its contents. Give each store its own artifact_root (or, if that "
                "store is gone for good, delete the file)"
            )

    def _mark(self) -> str | None:
        """The owner the folder's marker names, written first (as ``owner``) when missing."""
        if self.owner is None:
            return None
        marker = os.path.join(self.root, OWNER_FILE)
        try:
            with open(marker, encoding="utf-8") as file:
                return str(json.load(file).get("store"))
        except FileNotFoundError:
            pass
        except (ValueError, AttributeError):
            raise ConfigurationError(f"{marker} is not a track marker: remove it") from None
        descriptor, temporary = tempfile.mkstemp(prefix=_STAGED_PREFIX, dir=self.root)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"store": self.owner}, file)
        try:
            os.link(temporary, marker)  # never replaces a marker another store just wrote
        except FileExistsError:
            return self._mark()
        except OSError:  # a filesystem without hard links
            os.replace(temporary, marker)
        finally:
            _remove(temporary)
        return self.owner


def _remove(path: str) -> int:
    """Delete a file if it is there; returns the bytes it held (0 if it was gone)."""
    with contextlib.suppress(FileNotFoundError):
        size = os.stat(path).st_size
        os.unlink(path)
        return size
    return 0
