"""Content hashes and code versions.

A trial's identity hashes its parameters, so the hash must be the same in any process on any
machine: values are encoded as canonical JSON (sorted keys, no whitespace) before hashing.
A code version defaults to the sha256 of the running script, and the git commit and dirty flag
are recorded beside it when the script lives in a git work tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

__all__ = [
    "compute_hash",
    "compute_version",
    "default_version_hash",
    "get_file_version",
    "get_git_branch",
    "get_git_version",
    "is_iterable",
]


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def compute_hash(*args: Any, **kwargs: Any) -> str:
    """A stable sha256 hex digest of the arguments, whatever the order of dict keys."""
    payload = json.dumps(
        {"args": _canonical(list(args)), "kwargs": _canonical(kwargs)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def get_file_version(file_name: str) -> str:
    """sha256 of a file's bytes: versions uncommitted edits that git would not see."""
    digest = hashlib.sha256()
    with open(file_name, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def compute_version(files: list[str]) -> str:
    """One sha256 over the content of several files, in the order given."""
    digest = hashlib.sha256()
    for name in files:
        digest.update(get_file_version(name).encode())
    return digest.hexdigest()


def _main_script() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if isinstance(path, str) and os.path.isfile(path):
        return os.path.abspath(path)
    return None


def default_version_hash() -> str | None:
    """The version of the running script (sha256 of its file), or None in a REPL."""
    script = _main_script()
    return get_file_version(script) if script else None


def _location(module: ModuleType | str | os.PathLike[str] | None) -> str | None:
    """The file or folder ``module`` designates: a module's file (or a namespace package's
    folder), a path as given; None for a module that has neither (a built-in)."""
    if module is None:
        return _main_script() or os.getcwd()
    if isinstance(module, ModuleType):
        path = getattr(module, "__file__", None)
        if path is None:
            folders = list(getattr(module, "__path__", None) or ())
            path = folders[0] if folders else None
        return os.path.abspath(path) if path else None
    if isinstance(module, (str, os.PathLike)):
        return os.path.abspath(os.fspath(module))
    raise TypeError(f"expected a module or a path, not {type(module).__name__} ({module!r})")


def get_git_version(
    module: ModuleType | str | os.PathLike[str] | None = None,
) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding ``module`` (default: the running script).

    ``module`` is an imported module (as Track 0.0.1 takes it) or a path to a file or folder.
    Returns ``(None, None)`` outside a git work tree, for a built-in module (no file), or when
    git is not installed.
    """
    path = _location(module)
    if path is None:
        return None, None
    folder = path if os.path.isdir(path) else os.path.dirname(path)

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", folder, *args],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, bool(status)


def get_git_branch(module: ModuleType | str | os.PathLike[str] | None = None) -> str | None:
    """The branch checked out in the work tree holding ``module`` (default: the running script).

    ``module`` is a module or a path, as for :func:`get_git_version`. Reads ``.git/HEAD`` rather
    than running git (no second subprocess per trial). Returns None outside a git work tree,
    for a built-in module, or on a detached HEAD.
    """
    path = _location(module)
    if path is None:
        return None
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    while not os.path.exists(os.path.join(folder, ".git")):
        if os.path.dirname(folder) == folder:
            return None
        folder = os.path.dirname(folder)
    git_dir = os.path.join(folder, ".git")
    try:
        if os.path.isfile(git_dir):  # a worktree or submodule: ".git" names the real folder
            with open(git_dir, encoding="utf-8") as file:
                git_dir = os.path.join(folder, file.read().strip().removeprefix("gitdir: "))
        with open(os.path.join(git_dir, "HEAD"), encoding="utf-8") as file:
            head = file.read().strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return head[len(prefix) :] if head.startswith(prefix) else None


def is_iterable(iterable: Any) -> bool:
    """True for containers one can loop over, False for strings and scalars."""
    return isinstance(iterable, Iterable) and not isinstance(iterable, (str, bytes))
