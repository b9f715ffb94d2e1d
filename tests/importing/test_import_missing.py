"""``track import`` without the package that reads the source: one line naming the extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("source", "module", "extra"),
    [
        ("mlflow", "mlflow", "mlflow"),
        ("tensorboard", "tensorboard", "import-tensorboard"),
        ("wandb", "wandb", "wandb"),
    ],
)
def test_missing_package_is_one_line(tmp_path: Path, source: str, module: str, extra: str) -> None:
    """Without the reader's package, ``track import`` prints one line naming the extra (exit 2)."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; from track.cli import main; "
        f"sys.exit(main(['import', {source!r}, {str(tmp_path)!r}, '--store', 'ephemeral:']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"pip install 'track[{extra}]'" in done.stderr
