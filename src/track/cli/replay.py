"""``track replay SPILL --store URI``: apply writes a process could not deliver before exiting."""

from __future__ import annotations

import argparse

from track.persistence import get_protocol
from track.pipeline import replay_spill


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("spill", help="a track-spill-*.jsonl file")
    parser.add_argument("--store", required=True, help="URI of the store to write into")


def run(args: argparse.Namespace) -> int:
    """Replay the spill file and say how many batches were applied."""
    protocol = get_protocol(args.store)
    try:
        count = replay_spill(args.spill, protocol)
        protocol.commit()
    finally:
        protocol.close()
    print(f"applied {count} batches from {args.spill}")
    return 0
