"""``track show UID``: one trial's report (the layout of ``TrialLogger.report``)."""

from __future__ import annotations

import argparse

from track.cli.output import print_json
from track.cli.store import add_store_argument, default_store
from track.reading import find_trial, open_store
from track.serialization import report_doc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("uid", help="trial uid (or a unique prefix of it)")
    add_store_argument(parser)
    parser.add_argument(
        "--full", action="store_true", help="every metric point (default: the last 10)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the report: coloured JSON on a terminal, plain JSON when piped."""
    protocol = open_store(args.store or default_store())
    try:
        trial = find_trial(protocol, args.uid)
    finally:
        protocol.close()
    print_json(report_doc(trial, short=not args.full))
    return 0
