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
``track.compat.stores``        ``track.persistence``: ``make_local``,
                               ``make_ephemeral_protocol``, ``make_pickled_protocol``,
                               ``make_socket_protocol``, ``make_cockroach_protocol``,
                               ``make_comet_ml``, ``make_mongodb_protocol``;
                               ``track.persistence.cockroach``
``track.compat.serializers``   ``track.serialization``: the ``Serializer*`` classes
``track.compat.socketed``      ``track.persistence.socketed``: ``send``, ``recv``, ``read``,
                               ``write``, ``to_bytes``, ``to_obj``, ``ServerSignalHandler``
``track.compat.encrypted``     ``track.utils.encrypted``: ``EncryptedSocket``, ``wrap_socket``
``track.compat.sockets``       ``track.utils``: ``open_socket``, ``listen_socket``
``track.compat.system``        ``track.utils.system``: ``get_gpu_name``
``track.compat.debug``         ``track.utils.debug``: ``print_stack``
``track.compat.delay``         ``track.utils.delay``: ``delay_call``, ``DelayedCall``, ``Future``, ...
``track.compat.stat``          ``track.utils.stat``: ``StatStreamStruct``
``track.compat.log``           ``track.utils.log``: ``get_log_record_constructor``
``track.compat.types``         ``track.containers.types``
``track.compat.cockroachdb``   ``track.distributed.cockroachdb``: ``CockroachDB``
=============================  =========================================================

A documented module (``track.serialization``, ``track.persistence.local``, ``track.utils``, ...)
names these by string in a :func:`track.registry.lazy_aliases` table and resolves them on first
access, so importing the core never imports this package and no import cycle runs between
them. docs/compatibility.md lists every seed feature and its status.
"""
