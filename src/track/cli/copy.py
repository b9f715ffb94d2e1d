"""``track copy SRC DST``: copy every project, group and trial from one store into another."""

from __future__ import annotations

import argparse

from track.persistence.transfer import copy_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("source", help="URI of the store to read (e.g. file://track.json)")
    parser.add_argument("destination", help="URI of the store to write (e.g. sqlite:///track.db)")


def run(args: argparse.Namespace) -> int:
    """Copy, then say what was copied."""
    report = copy_store(args.source, args.destination)
    print(
        f"copied {report.projects} projects, {report.groups} groups, {report.trials} trials "
        f"({report.points} metric points); {report.skipped} trials were already there"
    )
    return 0
