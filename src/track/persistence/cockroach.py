"""``cockroach://`` (seed API module): a CockroachDB store, served by :mod:`track.persistence.sql`.

CockroachDB speaks PostgreSQL's protocol; track's SQL store uses it with the ``[postgres]``
extra. :class:`~track.distributed.cockroachdb.CockroachDB` starts a local node.
"""

from __future__ import annotations

from track.persistence import make_cockroach_protocol

__all__ = ["make_cockroach_protocol"]
