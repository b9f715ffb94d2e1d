"""``track artifacts ls UID``, ``get UID NAME [--to DIR]`` and ``gc``: a trial's files.

``ls`` prints the trial's artifact index (name, size, media type, time, sha256): a table on a
terminal, TSV when piped, JSON with ``--json``. ``get`` streams one artifact into ``DIR/NAME``
through a temporary file that is renamed into place only once its sha256 matched the recorded
one: a corrupted artifact exits with code 2 and leaves nothing behind. A name logged with
folders (``plots/loss.png``) is written under the same folders of ``DIR``; names that would
leave ``DIR`` (absolute, ``..``) are refused. ``gc`` removes the stored contents no trial
names any more (deleting trials leaves their bytes until then) and prints what it freed.
"""

from __future__ import annotations

import argparse
import os
import posixpath
from datetime import datetime

from track.cli import UserError
from track.cli.output import print_json, print_table
from track.cli.store import add_store_argument, default_store
from track.persistence.artifacts import copy_chunks
from track.reading import find_trial, open_store

__all__ = ["add_arguments", "destination", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``ls``, ``get`` and ``gc`` subcommands."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("ls", help="list a trial's artifacts")
    listing.add_argument("uid", help="trial uid (or a unique prefix of it)")
    listing.add_argument("--json", action="store_true", help="print the index as JSON")
    add_store_argument(listing)
    getting = actions.add_parser("get", help="download one artifact, checking its sha256")
    getting.add_argument("uid", help="trial uid (or a unique prefix of it)")
    getting.add_argument("name", help="the artifact's name (see `track artifacts ls UID`)")
    getting.add_argument("--to", default=".", metavar="DIR", help="folder to write into (.)")
    add_store_argument(getting)
    collecting = actions.add_parser(
        "gc", help="remove stored contents that no trial names any more (after deletes)"
    )
    add_store_argument(collecting)


def destination(folder: str, name: str) -> str:
    """Where ``get`` writes artifact ``name`` under ``folder``; refuses names leaving it."""
    parts = name.replace("\\", "/").split("/")
    if posixpath.isabs(name) or any(part in ("", ".", "..") for part in parts):
        raise UserError(f"artifact name {name!r} is not a relative path: cannot write it safely")
    return os.path.join(folder, *parts)


def when(seconds: float) -> str:
    """A stored time as local ISO 8601, to the second."""
    return datetime.fromtimestamp(seconds).isoformat(sep=" ", timespec="seconds")


def run(args: argparse.Namespace) -> int:
    """List the index, write one artifact after verifying its digest, or collect contents."""
    protocol = open_store(args.store or default_store())
    try:
        if args.action == "gc":
            count, freed = protocol.collect_artifacts()
            print(f"removed {count} unreferenced contents ({freed} bytes freed)")
            return 0
        trial = find_trial(protocol, args.uid, with_metrics=False)
        if args.action == "ls":
            found = protocol.list_artifacts(trial)
            if args.json:
                print_json([info.to_doc() for info in found])
            else:
                rows = [[a.name, a.size, a.media_type, when(a.time), a.sha256] for a in found]
                columns = ["name", "size", "media type", "time", "sha256"]
                print_table(columns, rows, kinds={"size": "number"})
            return 0
        target = destination(args.to, args.name)
        chunks = protocol.open_artifact(trial, args.name)
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        size = copy_chunks(chunks, target)
        print(f"{target} ({size} bytes, sha256 verified)")
        return 0
    finally:
        protocol.close()
