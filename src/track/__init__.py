"""track: experiment tracking for machine-learning research.

One small client API; storage chosen by URI (``file://``, ``sqlite://``, ``postgresql://``,
``socket://``, ...). Log calls cost microseconds and never wait on disk or network.
"""

from track.client import TrackClient, TrialDoesNotExist
from track.logger import TrialLogger
from track.structure import CustomStatus, Project, Status, Trial, TrialGroup

__all__ = [
    "CustomStatus",
    "Project",
    "Status",
    "TrackClient",
    "Trial",
    "TrialDoesNotExist",
    "TrialGroup",
    "TrialLogger",
]

__version__ = "0.1.0"
