"""psutil and NVML stay optional: importing track loads neither."""

from __future__ import annotations

import subprocess
import sys


def test_import_track_loads_neither_psutil_nor_nvml() -> None:
    """A fresh `import track` (and track.system) leaves psutil and pynvml unimported."""
    code = (
        "import sys, track, track.system; print('psutil' in sys.modules, 'pynvml' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
