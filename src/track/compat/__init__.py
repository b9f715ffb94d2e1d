"""Code kept only for the API of Track 0.0.1 (the seeds), re-exported at its documented paths.

Nothing in track's core needs these modules: they give a user of Track 0.0.1 the names the
reference documents, built over track's own parts (its one query language, the file store's
locking, the server's wire format and authenticated channel). Each module here is re-exported
at the path the reference documents:

=============================  =========================================================
``track.compat.queries``       ``track.persistence.local``: ``execute_query``, ``query_*``
``track.compat.locks``         ``track.persistence.local``: ``ConcurrentWrite``, ``make_lock``,
                               ``lock_guard``, ``lock_read``, ``lock_write``,
                               ``lock_atomic_write``, ``MultiLock``, ``LockFileRemover``
``track.compat.storage``       ``track.persistence.storage``: ``LocalStorage``, ``load_database``
``track.compat.stores``        ``track.persistence``: ``make_mongodb_protocol``;
                               ``track.persistence.cockroach``
``track.compat.serializers``   ``track.serialization``: the ``Serializer*`` classes
``track.compat.socketed``      ``track.persistence.socketed``: ``send``, ``recv``, ``read``,
                               ``write``, ``to_bytes``, ``to_obj``, ``ServerSignalHandler``
``track.compat.encrypted``     ``track.utils.encrypted``: ``EncryptedSocket``, ``wrap_socket``
``track.compat.sockets``       ``track.utils``: ``open_socket``, ``listen_socket``
``track.compat.system``        ``track.utils.system``: ``get_gpu_name``
``track.compat.debug``         ``track.utils.debug``: ``print_stack``
``track.compat.stat``          ``track.utils.stat``: ``StatStreamStruct``
``track.compat.log``           ``track.utils.log``: ``get_log_record_constructor``
``track.compat.types``         ``track.containers.types``
``track.compat.cockroachdb``   ``track.distributed.cockroachdb``: ``CockroachDB``
=============================  =========================================================

A core module that documents some of these names (``track.serialization``,
``track.persistence.local``, ``track.utils``, ...) resolves them on first access through
:func:`compat_attribute`, so importing the core never imports this package and no import
cycle runs between them. docs/compatibility.md lists every seed feature and its status.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["compat_attribute"]


def compat_attribute(module: str, name: str, table: dict[str, str]) -> Any:
    """The value of ``module.name``, taken from ``track.compat.<table[name]>`` (then cached).

    A documented module's ``__getattr__`` calls this for the names of its table of
    compatibility names (and raises the usual :class:`AttributeError` for any other).
    """
    value = getattr(importlib.import_module(f"track.compat.{table[name]}"), name)
    setattr(sys.modules[module], name, value)
    return value
