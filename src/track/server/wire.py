"""The wire format of the track server: length-prefixed frames of msgpack, with typed extensions.

A frame is a 4-byte big-endian length followed by that many bytes (ciphertext under the AES
layer). A payload is msgpack; track objects travel as msgpack *extension types* holding their
document (see :mod:`track.serialization`), so no user dict can pose as a trial, and the
decoder rebuilds only the few types whose codes are listed below. Ints beyond msgpack's 64 bits
(a uuid, a hash) travel as an extension of their own, the one allowed inside another. There is
no pickle and no name-based lookup of types: an unknown extension code is an error.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from typing import Any

from track.errors import ServerError
from track.persistence.chunks import SeriesColumns, decode_chunks, encode_chunks
from track.persistence.protocol import TrialBatch
from track.serialization import (
    group_from_doc,
    group_to_doc,
    jsonable,
    project_from_doc,
    project_to_doc,
    status_from_doc,
    status_to_doc,
    trial_from_doc,
    trial_to_doc,
)
from track.structure import CustomStatus, Project, Status, Trial, TrialGroup

__all__ = [
    "DEFAULT_MAX_FRAME",
    "VERSION",
    "FrameError",
    "TrialRef",
    "decode",
    "encode",
    "frame",
    "read_frame",
    "recv_frame",
]

#: Version of the wire protocol, checked in the handshake.
VERSION = 1
#: Largest frame accepted by default (16 MiB); a bigger announced length closes the connection.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
HEADER = struct.Struct(">I")
#: A frame may decode into one array, map or track object per this many bytes of it ...
CONTAINER_BYTES = 8
#: ... plus this many, whatever its size (see :class:`_Budget`).
CONTAINER_FLOOR = 4096
#: A track object (extension type) counts as this many containers.
EXT_WEIGHT = 16

TRIAL, GROUP, PROJECT, BATCH, STATUS, TRIAL_REF, SERIES, BIG_INT = range(1, 9)
#: An int beyond msgpack's 64 bits travels as its signed big-endian bytes, at most this many
#: (ints of up to 8,191 bits: a uuid's 128 or a hash's 256 pass, a runaway number does not).
MAX_BIG_INT_BYTES = 1024


class FrameError(ServerError, ValueError):
    """A frame that is too large, truncated, undecodable or fails authentication."""


class TrialRef(Trial):
    """A trial sent by reference (hash and revision only): what writes to a stored trial need."""


def _default(obj: Any) -> Any:
    import msgpack

    if isinstance(obj, TrialRef):
        return msgpack.ExtType(TRIAL_REF, msgpack.packb([obj.hash, obj.revision]))
    if isinstance(obj, Trial):
        return msgpack.ExtType(TRIAL, encode(trial_to_doc(obj)))
    if isinstance(obj, TrialGroup):
        return msgpack.ExtType(GROUP, encode(group_to_doc(obj)))
    if isinstance(obj, Project):
        return msgpack.ExtType(PROJECT, encode(project_to_doc(obj)))
    if isinstance(obj, TrialBatch):
        return msgpack.ExtType(BATCH, encode(obj.to_doc()))
    if isinstance(obj, (Status, CustomStatus)):
        return msgpack.ExtType(STATUS, encode(status_to_doc(obj)))
    if isinstance(obj, int):  # msgpack hands over only the ints beyond its 64 bits
        return msgpack.ExtType(BIG_INT, _big_int_bytes(obj))
    if isinstance(obj, SeriesColumns):
        chunks = [blob for _, blob, _ in encode_chunks(obj.steps, obj.values, obj.times)]
        return msgpack.ExtType(SERIES, encode(chunks))
    return jsonable("argument", obj)


def _big_int_bytes(number: int) -> bytes:
    size = (number.bit_length() + 8) // 8  # one bit more than the magnitude, for the sign
    if size > MAX_BIG_INT_BYTES:
        raise ValueError(
            f"an int of {number.bit_length()} bits cannot be sent (at most "
            f"{8 * MAX_BIG_INT_BYTES - 1} bits)"
        )
    return number.to_bytes(size, "big", signed=True)


def _big_int(data: bytes) -> int:
    if not 0 < len(data) <= MAX_BIG_INT_BYTES:
        raise FrameError(f"a big int of {len(data)} bytes (1 to {MAX_BIG_INT_BYTES})")
    return int.from_bytes(data, "big", signed=True)


_BUILDERS: dict[int, Any] = {
    TRIAL: trial_from_doc,
    GROUP: group_from_doc,
    PROJECT: project_from_doc,
    BATCH: TrialBatch.from_doc,
    STATUS: status_from_doc,
}


def _ext_hook(code: int, data: bytes, budget: _Budget, reply: bool) -> Any:
    """Rebuild a track object; its code is checked before a byte of its payload is decoded.

    A payload is a plain document: track never nests extension types, so a nested one is
    refused at once (decoding it would recurse through the C decoder, whose stack a few
    hundred levels exhaust); only a big int, a leaf, may sit inside one. It draws on the budget
    of the frame holding it.
    """
    if code == BIG_INT:
        return _big_int(data)
    if code == SERIES and not reply:
        raise FrameError("a series is only sent by the server")
    if code != TRIAL_REF and code != SERIES and code not in _BUILDERS:
        raise FrameError(f"unknown extension type {code}")
    budget.spend(EXT_WEIGHT)
    doc = _unpack(data, _only_big_ints, budget)
    if code == SERIES:
        return _series(doc)
    if code == TRIAL_REF:
        if not isinstance(doc, list) or len(doc) != 2:
            raise FrameError("a trial reference must hold [hash, revision]")
        hash_, revision = doc
        return TrialRef(_hash=str(hash_), revision=int(revision))
    if not isinstance(doc, dict):
        raise FrameError(f"extension type {code} must hold a map")
    return _BUILDERS[code](doc)


def _series(doc: Any) -> SeriesColumns:
    """A series sent as its packed chunks (the layout SQL stores keep, track.persistence.chunks)."""
    if not isinstance(doc, list) or not all(isinstance(blob, bytes) for blob in doc):
        raise FrameError("a series must hold a list of chunks")
    try:
        return decode_chunks(doc)
    except (ValueError, struct.error, zlib.error) as error:
        raise FrameError(f"a malformed series chunk: {error}") from None


def _only_big_ints(code: int, data: bytes) -> Any:
    if code == BIG_INT:
        return _big_int(data)
    raise FrameError(f"extension type {code} nested inside another one")


def encode(obj: Any) -> bytes:
    """``obj`` (plain values and track objects) as msgpack bytes."""
    import msgpack

    return msgpack.packb(obj, default=_default, use_bin_type=True, datetime=False)


class _Budget:
    """How many more arrays, maps and track objects one frame may decode into.

    An empty array is 1 byte on the wire and a ~64-byte list once decoded, and a trial
    reference ~6 bytes for a ~1 KiB object, so counts bounded by the frame size alone still
    let 16 MiB expand to gigabytes. A frame gets one container per :data:`CONTAINER_BYTES`
    bytes (plus :data:`CONTAINER_FLOOR`); a track object costs :data:`EXT_WEIGHT` of them.
    Real payloads stay well inside: a metric point ``[step, value, time]`` takes >= 12 bytes.
    """

    __slots__ = ("left", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.left = CONTAINER_FLOOR + size // CONTAINER_BYTES

    def spend(self, weight: int) -> None:
        """Take ``weight`` from the budget; raises :class:`FrameError` once it is spent."""
        self.left -= weight
        if self.left < 0:
            raise FrameError(
                f"a payload of {self.size} bytes holds more arrays, maps and track objects than "
                f"its size allows (1 per {CONTAINER_BYTES} bytes, plus {CONTAINER_FLOOR})"
            )

    def container(self, obj: Any) -> Any:
        """``msgpack``'s list and map hook: count one container, keep it as it is."""
        self.left -= 1
        if self.left < 0:
            self.spend(0)
        return obj


def _unpack(data: bytes, ext_hook: Any, budget: _Budget) -> Any:
    """Decode with every element count bounded by the size of ``data``, drawing on ``budget``.

    An array or map cannot hold more elements than the bytes left to encode them, so a small
    frame announcing a huge container is refused before anything is allocated for it.
    """
    import msgpack

    size = len(data)
    return msgpack.unpackb(
        data,
        ext_hook=ext_hook,
        list_hook=budget.container,
        object_hook=budget.container,
        raw=False,
        strict_map_key=True,
        max_str_len=size,
        max_bin_len=size,
        max_array_len=size,
        max_map_len=size // 2,
        max_ext_len=size,
    )


def decode(data: bytes, reply: bool = False) -> Any:
    """msgpack bytes back into values; malformed or hostile input raises :class:`FrameError`.

    A series (packed chunks, which unpack to far more than their size) is accepted only in a
    ``reply`` from the server: no request carries one, so a client cannot make the server
    unpack any.
    """
    budget = _Budget(len(data))
    try:
        return _unpack(data, lambda code, payload: _ext_hook(code, payload, budget, reply), budget)
    except FrameError:
        raise
    except Exception as error:  # msgpack raises many types on garbage; all mean "bad frame"
        raise FrameError(f"undecodable payload ({type(error).__name__}: {error})") from None


def frame(payload: bytes) -> bytes:
    """The payload with its length prefix."""
    return HEADER.pack(len(payload)) + payload


def _check_length(length: int, max_frame: int) -> None:
    if length > max_frame:
        raise FrameError(f"frame of {length} bytes exceeds the maximum of {max_frame}")


async def read_frame(
    reader: asyncio.StreamReader,
    max_frame: int,
    idle_timeout: float | None,
    read_timeout: float,
) -> bytes:
    """Read one frame: wait up to ``idle_timeout`` for it to start, ``read_timeout`` to finish."""
    header = await asyncio.wait_for(reader.readexactly(HEADER.size), idle_timeout)
    (length,) = HEADER.unpack(header)
    _check_length(length, max_frame)
    return await asyncio.wait_for(reader.readexactly(length), read_timeout)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(min(size - len(chunks), 1 << 20))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        chunks += chunk
    return bytes(chunks)


def recv_frame(sock: socket.socket, max_frame: int) -> bytes:
    """Read one frame from a blocking socket (its timeout bounds each read)."""
    (length,) = HEADER.unpack(_recv_exactly(sock, HEADER.size))
    _check_length(length, max_frame)
    return _recv_exactly(sock, length)
