"""``track.utils.system`` (seed API): ``get_gpu_name``, kept in :mod:`track.compat.system`."""

from __future__ import annotations

from track.compat.system import get_gpu_name

__all__ = ["get_gpu_name"]
