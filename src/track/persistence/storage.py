"""``track.persistence.storage`` (seed API): the file store as objects, kept in
:mod:`track.compat.storage`."""

from __future__ import annotations

from track.compat.storage import LocalStorage, load_database

__all__ = ["LocalStorage", "load_database"]
