"""System metrics sampled while a trial runs, and the environment it ran in.

``import track.system`` imports neither psutil nor NVML; they are imported on the sampler's
thread (:mod:`track.system.host`, :mod:`track.system.gpu`) and skipped when missing.
"""

from track.system.environment import capture_environment, installed_distributions
from track.system.sampler import SystemSampler, start_sampler

__all__ = ["SystemSampler", "capture_environment", "installed_distributions", "start_sampler"]
