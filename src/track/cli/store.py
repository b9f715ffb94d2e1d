"""The ``--store`` option of the read commands, and the store it defaults to."""

from __future__ import annotations

import argparse

from track.configuration import DEFAULT_URI, default_uri

__all__ = ["add_store_argument", "default_store"]


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--store`` option of the read commands, defaulting like ``TrackClient()``."""
    parser.add_argument("--store", help=f"store URI (default: TRACK_URI, else {DEFAULT_URI})")


def default_store() -> str:
    """The URI ``TrackClient`` would use: ``TRACK_URI`` (or track.config), else ``DEFAULT_URI``."""
    return default_uri()
