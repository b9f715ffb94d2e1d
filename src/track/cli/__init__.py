"""The ``track`` command line: one module per command, listed in :data:`COMMANDS`.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int``. Errors a user
can fix, which track raises as a :class:`~track.errors.TrackError` (a bad URI, an unknown uid, a
bad query), and a file the user named that cannot be opened, are printed as one line, exit code
2. Anything else is a bug in track: it propagates with its traceback (see docs/errors.md).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from track.errors import ConfigurationError, TrackError
from track.persistence.utils import redact

__all__ = ["COMMANDS", "main"]

#: command name -> (module under track.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "replay": ("track.cli.replay", "apply a spill file of unsent writes to a store"),
    "copy": ("track.cli.copy", "copy one store into another, merging the trials both hold"),
    "serve": ("track.cli.serve", "run a track server that owns a store (socket://)"),
    "users": ("track.cli.users", "manage the users file of a track server"),
    "ls": ("track.cli.ls", "list trials: status, duration, key parameters, last metric values"),
    "show": ("track.cli.show", "show one trial's report"),
    "compare": ("track.cli.compare", "compare trials side by side: parameters, final/best metrics"),
    "export": ("track.cli.export", "export trials as a tidy table (csv, json or parquet)"),
    "ui": ("track.cli.ui", "serve the web dashboard"),
    "import": ("track.cli.importing", "import runs from MLflow, TensorBoard or wandb"),
    "rm": ("track.cli.edit", "delete trials with their points (asks first; --yes when piped)"),
    "rename": ("track.cli.edit", "set a trial's display name (its uid stays)"),
    "tag": ("track.cli.edit", "add (+label, key=value) and remove (-label) a trial's tags"),
    "note": ("track.cli.edit", "set a trial's free-text note"),
    "artifacts": ("track.cli.artifacts", "list a trial's artifacts, or download one (verified)"),
}


#: Errors about a file the user named (a missing spill file, a folder given as a file...).
FILE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


class UserError(ConfigurationError):
    """A command-line request that cannot be carried out as given; printed as one line."""


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the ``chosen`` command's module is imported (fast start-up)."""
    parser = argparse.ArgumentParser(prog="track", description="Experiment tracking.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``track`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except (TrackError, *FILE_ERRORS) as error:
        print(f"track {args.command}: {redact(str(error))}", file=sys.stderr)
        return 2
