"""``track show UID``: one trial's summary for people, or its report as JSON.

On a terminal it prints the summary ``with trial:`` prints at its end (status, duration, store,
parameters, each metric's last/min/max with a sparkline, the command that opens it). Piped, or
with ``--json``, it prints the report layout of ``TrialLogger.report`` as JSON, as before.
"""

from __future__ import annotations

import argparse
import sys

from track.cli.output import print_json
from track.cli.store import add_store_argument, default_store
from track.persistence.utils import redact
from track.reading import find_trial, open_store, print_summary
from track.serialization import report_doc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("uid", help="trial uid (or a unique prefix of it)")
    add_store_argument(parser)
    parser.add_argument(
        "--full", action="store_true", help="every metric point in the JSON (default: the last 10)"
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument(
        "--json", action="store_true", help="print the JSON report (the default when piped)"
    )
    form.add_argument(
        "--summary", action="store_true", help="print the summary (the default on a terminal)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the summary on a terminal, the JSON report when piped (or as asked)."""
    store = args.store or default_store()
    as_json = args.json or args.full or not (args.summary or sys.stdout.isatty())
    protocol = open_store(store)
    try:
        trial = find_trial(protocol, args.uid)
    finally:
        protocol.close()
    if as_json:
        print_json(report_doc(trial, short=not args.full))
    else:
        print_summary(trial, redact(store))
    return 0
