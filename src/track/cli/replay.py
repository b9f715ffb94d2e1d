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
    """Replay the spill file; say what was applied, already present and refused.

    Exits 0 when every batch is now in the store (the spill file is then removed), 1 when
    some stay in the spill file.
    """
    protocol = get_protocol(args.store)
    try:
        report = replay_spill(args.spill, protocol)
        protocol.commit()
    finally:
        protocol.close()
    print(
        f"{args.spill}: applied {report.applied} batches, {report.already_present} already "
        f"present, {len(report.refused)} refused"
    )
    for message in report.refused:
        print(f"  refused: {message}")
    if report.stopped is not None:
        print(f"  stopped: {report.stopped}")
    if report.kept:
        print(f"{report.kept} batches stay in {args.spill}; replay it again once fixed")
        return 1
    print(f"every batch is in the store; removed {args.spill}")
    return 0
