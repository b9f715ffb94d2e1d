"""``track users add NAME --file users.toml``: add a server user, storing only a scrypt hash."""

from __future__ import annotations

import argparse
import getpass
import sys

from track.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("action", choices=["add"], help="what to do")
    parser.add_argument("name", help="user name (letters, digits, '_', '.', '-')")
    parser.add_argument("--file", required=True, help="users file to create or update")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def run(args: argparse.Namespace) -> int:
    """Ask for the password (twice on a terminal) and write its hash to the users file."""
    from track.server.auth import save_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise UserError("the passwords differ")
    if not password:
        raise UserError("the password is empty")
    try:
        save_user(args.file, args.name, password)
    except FileExistsError as error:
        raise UserError(str(error)) from None
    print(f"user {args.name} saved to {args.file}")
    return 0
