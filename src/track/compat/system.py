"""The seeds' ``track.utils.system``: what GPU this machine has."""

from __future__ import annotations

from track.system.gpu import nvml_gpus

__all__ = ["get_gpu_name"]


def get_gpu_name() -> str | None:
    """The name of the machine's first GPU as NVML reports it, or None without one.

    None also when NVML (``nvidia-ml-py``, the ``[gpu]`` extra) or the driver is missing;
    track's debug log says which.
    """
    gpus = nvml_gpus()
    if gpus is None:
        return None
    devices = gpus.describe()["devices"]
    return devices[0]["name"] if devices else None
