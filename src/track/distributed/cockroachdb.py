"""``track.distributed.cockroachdb`` (seed API): the CockroachDB node launcher, kept in
:mod:`track.compat.cockroachdb`."""

from __future__ import annotations

from track.compat.cockroachdb import CockRoachDB, CockroachDB, CockroachNotFound

__all__ = ["CockRoachDB", "CockroachDB", "CockroachNotFound"]
