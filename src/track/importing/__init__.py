"""Import runs from other trackers (MLflow, TensorBoard, wandb) into a track store.

One module per source reads its format with that tracker's own package, imported only when
used; :mod:`track.importing.core` writes the runs (see there for identity and re-imports).
"""

from __future__ import annotations

from track.errors import MissingExtra
from track.importing.core import ImportReport, SourceError, SourceRun, import_runs

__all__ = ["ImportReport", "MissingExtra", "SourceError", "SourceRun", "import_runs"]
