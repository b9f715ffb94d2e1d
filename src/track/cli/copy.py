"""``track copy SRC DST``: copy every project, group and trial into another store, merging.

A trial DST already holds gets what it lacks (new points, tags, status, errors, ...), so the
same copy can be run again and again; see :mod:`track.persistence.transfer` for the rules.
SRC must exist (nothing is created there); DST is created when missing, except with
``--dry-run``, which writes nothing anywhere.
"""

from __future__ import annotations

import argparse
import logging
import sys

from track.cli.output import progress
from track.persistence import get_protocol
from track.persistence.protocol import Protocol
from track.persistence.transfer import copy_store
from track.persistence.utils import redact
from track.reading import NoStore, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("source", help="URI of the store to read (e.g. file://track.json)")
    parser.add_argument("destination", help="URI of the store to write (e.g. sqlite:///track.db)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing; list what would be created and merged",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="list every created or merged item"
    )


def _destination(uri: str, dry_run: bool) -> tuple[Protocol, bool]:
    """The destination store, and whether it exists; a dry run never creates it."""
    if not dry_run:
        return open_store(uri, create=True), True
    try:
        return open_store(uri), True
    except NoStore:
        return get_protocol("ephemeral:"), False


def run(args: argparse.Namespace) -> int:
    """Copy (or plan the copy), then say what was created, merged and left unchanged."""
    logging.basicConfig(format=f"track {args.command}: %(levelname)s: %(message)s")
    source = open_store(args.source)
    try:
        destination, exists = _destination(args.destination, args.dry_run)
        try:
            with progress("copying trials") as update:
                report = copy_store(source, destination, dry_run=args.dry_run, on_progress=update)
        finally:
            destination.close()
    finally:
        source.close()
    if not exists:
        print(f"{redact(args.destination)} does not exist yet: the copy would create it")
    if args.dry_run or args.verbose:
        for line in report.changes:
            print(line)
    print(report.summary())
    if report.warnings:
        print(f"{len(report.warnings)} differences were not copied (see above)", file=sys.stderr)
    return 0
