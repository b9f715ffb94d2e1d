"""NVIDIA GPUs through NVML (``nvidia-ml-py``, the ``[gpu]`` extra), imported only here.

Without the package, without a driver or without a GPU, :func:`nvml_gpus` returns None after
one debug line: GPU sampling is skipped, never an error. NVML is initialized once per process.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

__all__ = ["NvmlGpus", "nvml_gpus"]

log = logging.getLogger("track.system")

MB = 1024 * 1024


class NvmlGpus:
    """Reads every GPU NVML sees (all of the machine's, whatever ``CUDA_VISIBLE_DEVICES`` says)."""

    def __init__(self, nvml: Any, handles: list[Any]) -> None:
        self.nvml = nvml
        self.handles = handles

    def _read(self, function: str, *args: Any) -> Any:
        try:
            return getattr(self.nvml, function)(*args)
        except self.nvml.NVMLError:
            return None  # a field this GPU or driver does not support

    def sample(self) -> dict[str, float]:
        """``system/gpu<i>/<field>`` for utilization, memory used/total, temperature, power."""
        values: dict[str, float] = {}
        for index, handle in enumerate(self.handles):
            prefix = f"system/gpu{index}/"
            rates = self._read("nvmlDeviceGetUtilizationRates", handle)
            if rates is not None:
                values[prefix + "utilization_percent"] = float(rates.gpu)
            memory = self._read("nvmlDeviceGetMemoryInfo", handle)
            if memory is not None:
                values[prefix + "memory_used_mb"] = memory.used / MB
                values[prefix + "memory_total_mb"] = memory.total / MB
            sensor = self.nvml.NVML_TEMPERATURE_GPU
            temperature = self._read("nvmlDeviceGetTemperature", handle, sensor)
            if temperature is not None:
                values[prefix + "temperature_c"] = float(temperature)
            milliwatts = self._read("nvmlDeviceGetPowerUsage", handle)
            if milliwatts is not None:
                values[prefix + "power_w"] = milliwatts / 1000.0
        return values

    def describe(self) -> dict[str, Any]:
        """Driver and CUDA driver versions and each GPU's name and memory, for the environment."""
        cuda = self._read("nvmlSystemGetCudaDriverVersion")
        devices = []
        for handle in self.handles:
            memory = self._read("nvmlDeviceGetMemoryInfo", handle)
            devices.append(
                {
                    "name": _text(self._read("nvmlDeviceGetName", handle)),
                    "memory_total_mb": None if memory is None else memory.total / MB,
                }
            )
        return {
            "driver_version": _text(self._read("nvmlSystemGetDriverVersion")),
            "cuda_version": None if cuda is None else f"{cuda // 1000}.{cuda % 1000 // 10}",
            "devices": devices,
        }


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


@functools.cache
def nvml_gpus() -> NvmlGpus | None:
    """The machine's GPUs, or None (with one debug line) when NVML or a GPU is missing."""
    try:
        import pynvml
    except ImportError:
        log.debug("no GPU metrics: nvidia-ml-py is not installed (pip install 'track[gpu]')")
        return None
    try:
        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError as error:
        log.debug("no GPU metrics: NVML is unavailable (%s)", error)
        return None
    if not handles:
        log.debug("no GPU metrics: NVML found no GPU")
        return None
    return NvmlGpus(pynvml, handles)
