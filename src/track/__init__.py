"""track: experiment tracking for machine-learning research.

One small client API; storage chosen by URI (``file://``, ``sqlite://``, ``postgresql://``,
``socket://``, ...). Log calls cost microseconds and never wait on disk or network.
"""

from track.client import TrackClient, TrialDoesNotExist
from track.logger import TrialLogger
from track.registry import lazy_aliases
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
    "history",
    "runs",
]

#: runs as DataFrames (track.frames), imported on first use: ``import track`` loads no pandas
__getattr__ = lazy_aliases(__name__, {"runs": "track.frames", "history": "track.frames"})

__version__ = "0.1.0"
