"""``track rm``, ``track rename``, ``track tag`` and ``track note``: edit stored trials.

Every UID may be a unique prefix, as ``track show`` takes it (:func:`track.reading.find_trial`).
A rename sets the trial's display name (``metadata.display_name``), never its uid or hash, so
the runs that log to it and the commands that name it keep working; a note is the free-text
``metadata.note``. ``track rm`` deletes trials with their points; it asks first on a terminal,
and piped it deletes only with ``--yes``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from track.cli import UserError
from track.cli.store import add_store_argument, default_store
from track.persistence.protocol import Protocol
from track.reading import find_trial, open_store, short_uid, status_name
from track.structure import Trial

__all__ = ["add_arguments", "parse_tag_changes", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of the command ``parser`` was made for (rm, rename, tag, note)."""
    command = parser.prog.split()[-1]
    add_store_argument(parser)
    if command == "rm":
        parser.add_argument("uids", nargs="*", metavar="UID", help="trial uids (or prefixes)")
        whole = parser.add_mutually_exclusive_group()
        whole.add_argument("--group", help="delete this group (uid or name) instead of trials")
        whole.add_argument(
            "--project", help="delete this project (uid or name) and its groups instead"
        )
        parser.add_argument(
            "--with-trials",
            action="store_true",
            help="with --group/--project: also delete the trials it holds (without it, one "
            "that holds trials is refused)",
        )
        parser.add_argument(
            "--yes", "-y", action="store_true", help="delete without asking (needed when piped)"
        )
        return
    parser.add_argument("uid", help="trial uid (or a unique prefix of it)")
    if command == "rename":
        parser.add_argument("name", help='the display name ("" removes it); the uid stays')
    elif command == "note":
        parser.add_argument("text", help='the free-text note ("" removes it)')
    else:
        parser.add_argument(
            "changes",
            nargs=argparse.REMAINDER,
            metavar="CHANGE",
            help="+label adds a label (a tag without value), -label removes a tag, key=value sets one (value read as JSON "
            "when it parses: 0.1, true, [1,2]; else kept as text)",
        )


def parse_tag_changes(changes: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The tags to add (``+label``: a bare label, ``key=value``) and the names to remove (``-label``)."""
    added: dict[str, Any] = {}
    removed: list[str] = []
    for change in changes:
        if change.startswith("--"):
            raise UserError(f"{change!r}: options go before UID (track tag --store URI UID ...)")
        if change.startswith("+") and len(change) > 1:
            added[change[1:]] = None
        elif change.startswith("-") and len(change) > 1:
            removed.append(change[1:])
        elif "=" in change and not change.startswith("="):
            key, _, text = change.partition("=")
            try:
                added[key] = json.loads(text)
            except ValueError:
                added[key] = text
        else:
            raise UserError(f"{change!r} is not a tag change: +label, -label or label=value")
    both = set(added) & set(removed)
    if both:
        raise UserError(f"tag {sorted(both)[0]!r} is both added and removed")
    if not (added or removed):
        raise UserError("no change given: +label, -label or label=value")
    return added, removed


def _describe(trial: Trial) -> str:
    shown = trial.metadata.get("display_name")
    name = f"{trial.name} ({shown})" if shown else str(trial.name)
    return f"{short_uid(trial.uid)}  {name}  {status_name(trial)}"


def _confirmed(what: str, yes: bool) -> bool:
    """Whether to delete ``what``: ``--yes``, else the answer on a terminal; piped without
    --yes refuses."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UserError(
            f"refusing to delete {what} without confirmation: stdin is not a terminal; pass "
            "--yes to delete"
        )
    answer = input(f"delete {what}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _remove(protocol: Protocol, args: argparse.Namespace) -> int:
    if args.group is not None or args.project is not None:
        if args.uids:
            raise UserError("give trial UIDs or --group/--project, not both")
        return _remove_container(protocol, args)
    if not args.uids:
        raise UserError("nothing to delete: give trial UIDs, --group or --project")
    if args.with_trials:
        raise UserError("--with-trials goes with --group or --project")
    trials = list({t.uid: t for t in (find_trial(protocol, u, False) for u in args.uids)}.values())
    for trial in trials:
        print(_describe(trial))
    if not _confirmed(f"{len(trials)} trial(s) and their points", args.yes):
        print("nothing deleted")
        return 1
    deleted = protocol.delete_trials([trial.uid for trial in trials])
    print(f"deleted {deleted} trial(s)")
    return 0


def _remove_container(protocol: Protocol, args: argparse.Namespace) -> int:
    """Delete a group or a project (refused by the store while it holds trials, unless
    --with-trials)."""
    kind = "group" if args.group is not None else "project"
    key = args.group if kind == "group" else args.project
    fetch = protocol.fetch_groups if kind == "group" else protocol.fetch_projects
    found = fetch({"uid": key}) or fetch({"name": key})
    if len(found) != 1:
        raise UserError(
            f"no {kind} {key!r} in this store"
            if not found
            else f"{len(found)} {kind}s are named {key!r}: give the uid"
        )
    uid = found[0].uid
    selection = {"group_id": uid} if kind == "group" else {"project_id": uid}
    held = len(protocol.fetch_trials(selection, with_metrics=False))
    what = f"{kind} {found[0].name} ({uid})" + (
        f" and its {held} trial(s)" if args.with_trials and held else ""
    )
    if not _confirmed(what, args.yes):
        print("nothing deleted")
        return 1
    if kind == "group":
        deleted = protocol.delete_group(uid, trials=args.with_trials)
    else:
        deleted = protocol.delete_project(uid, trials=args.with_trials)
    print(f"deleted {kind} {uid} and {deleted} trial(s)")
    return 0


def run(args: argparse.Namespace) -> int:
    """Resolve the UIDs, apply the edit in the store, say what changed."""
    changes = parse_tag_changes(args.changes) if args.command == "tag" else None
    protocol = open_store(args.store or default_store())
    try:
        if args.command == "rm":
            return _remove(protocol, args)
        trial = find_trial(protocol, args.uid, with_metrics=False)
        uid = short_uid(trial.uid)
        if args.command == "rename":
            protocol.set_trial_display(trial.uid, name=args.name)
            shown = f"display name {args.name!r}" if args.name else "display name removed"
            print(f"{uid}: {shown} (uid unchanged)")
        elif args.command == "note":
            protocol.set_trial_display(trial.uid, note=args.text)
            print(f"{uid}: note {'set' if args.text else 'removed'}")
        else:
            assert changes is not None
            added, removed = changes
            if added:
                protocol.add_trial_tags(trial, **added)
            if removed:
                protocol.remove_trial_tags(trial.uid, removed)
            tags = (protocol.get_trial(trial) or [trial])[0].tags
            print(f"{uid}: tags {json.dumps(tags, sort_keys=True, default=str)}")
        return 0
    finally:
        protocol.close()
