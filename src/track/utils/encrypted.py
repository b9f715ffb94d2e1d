"""``track.utils.encrypted`` (seed API): the encrypted socket, kept in :mod:`track.compat.encrypted`.

It runs on track's authenticated AES channel (AES-256-GCM), not the seeds' AES-CBC.
"""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = dict.fromkeys(
    ("EncryptedSocket", "new_identity", "wrap_socket"), "track.compat.encrypted"
)
__all__ = list(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
