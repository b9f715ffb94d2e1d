"""``track.utils.encrypted`` (seed API): the encrypted socket, kept in :mod:`track.compat.encrypted`.

It runs on track's authenticated AES channel (AES-256-GCM), not the seeds' AES-CBC.
"""

from __future__ import annotations

from track.compat.encrypted import EncryptedSocket, new_identity, wrap_socket

__all__ = ["EncryptedSocket", "new_identity", "wrap_socket"]
