"""The seeds' ``track.utils.debug``: print where the program is."""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

__all__ = ["print_stack"]

WIDTH = 80


def print_stack(msg: str = "-", file: TextIO | None = None) -> None:
    """Print the caller's call stack, most recent call last, between two lines of ``msg``.

    ``msg`` is repeated to fill the line (``"-"`` draws a rule); the stack goes to ``file``
    (standard error by default). ``print_stack`` itself is not part of it.
    """
    out = sys.stderr if file is None else file
    rule = msg * max(1, WIDTH // len(msg)) if msg else ""
    frames = traceback.format_stack(sys._getframe(1))
    print(rule, file=out)
    print("".join(frames), end="", file=out)
    print(rule, file=out, flush=True)
