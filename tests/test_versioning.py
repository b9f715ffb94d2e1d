"""Content hashes are the same in every process; code versions follow file content."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from track.versioning import (
    compute_hash,
    compute_version,
    get_file_version,
    get_git_branch,
    get_git_version,
    is_iterable,
)

HASH_SCRIPT = """
import random, sys
from track.structure import Trial

rng = random.Random(int(sys.argv[1]))
params = {"lr": 0.1, "layers": [64, 32], "opt": {"name": "sgd", "momentum": 0.9, "nesterov": True},
          "seed": 0, "data": "mnist", "tags": {"b", "a"}}
items = list(params.items())
rng.shuffle(items)
shuffled = dict(items)
inner = list(shuffled["opt"].items())
rng.shuffle(inner)
shuffled["opt"] = dict(inner)
print(list(shuffled), Trial(name="t", version="v", parameters=shuffled).uid)
"""


def test_trial_hash_is_stable_across_processes() -> None:
    """Three interpreters with different hash seeds and key orders compute the same trial uid."""
    orders, uids = set(), set()
    for seed in (1, 2, 3):
        env = {**os.environ, "PYTHONHASHSEED": str(seed * 7919)}
        done = subprocess.run(
            [sys.executable, "-c", HASH_SCRIPT, str(seed)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=60,
        )
        order, uid = done.stdout.rsplit(" ", 1)
        orders.add(order)
        uids.add(uid.strip())
    assert len(orders) > 1
    assert len(uids) == 1
    assert uids.pop().endswith("_0")


def test_compute_hash_ignores_dict_order_but_not_values() -> None:
    """Dict key order does not change a hash; a different value does."""
    assert compute_hash(a={"x": 1, "y": 2}) == compute_hash(a={"y": 2, "x": 1})
    assert compute_hash(a={"x": 1}) != compute_hash(a={"x": 2})
    assert compute_hash(1, 2) != compute_hash(2, 1)
    assert len(compute_hash("x")) == 64


def test_file_versions_follow_content(tmp_path: Path) -> None:
    """A file's version changes with its bytes; a multi-file version depends on each file."""
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    before, combined = get_file_version(str(a)), compute_version([str(a), str(b)])
    a.write_text("x = 2\n")
    assert get_file_version(str(a)) != before
    assert compute_version([str(a), str(b)]) != combined


def test_git_version_outside_and_inside_a_work_tree(tmp_path: Path) -> None:
    """Outside git there is no commit; in a work tree the commit and dirty flag are found."""
    assert get_git_version(str(tmp_path)) == (None, None)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    commit, dirty = get_git_version(str(tmp_path / "train.py"))
    assert commit is not None and len(commit) == 40
    assert dirty is False
    (tmp_path / "train.py").write_text("print(2)\n")
    assert get_git_version(str(tmp_path / "train.py")) == (commit, True)


def test_is_iterable() -> None:
    """Containers are iterable; strings and scalars are not."""
    assert is_iterable([1]) and is_iterable((1,)) and is_iterable({1: 2})
    assert not is_iterable("abc") and not is_iterable(3)


def test_git_version_of_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``get_git_version(module)`` takes an imported module, as the reference documents."""
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "sub.py").write_text("VALUE = 2\n")
    (tmp_path / "nspkg").mkdir()
    (tmp_path / "nspkg" / "leaf.py").write_text("VALUE = 3\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()

    monkeypatch.syspath_prepend(str(tmp_path))
    mypkg = importlib.import_module("mypkg")
    sub = importlib.import_module("mypkg.sub")
    namespace = importlib.import_module("nspkg")  # no __file__, only __path__
    assert get_git_version(mypkg) == (commit, False)
    assert get_git_version(sub) == (commit, False)
    assert get_git_version(namespace) == (commit, False)
    assert get_git_version(tmp_path / "mypkg") == (commit, False)
    assert get_git_branch(mypkg) is not None

    (package / "sub.py").write_text("VALUE = 20\n")
    assert get_git_version(sub) == (commit, True)


def test_git_version_of_a_module_without_files() -> None:
    """A built-in module lives in no work tree: no commit; a non-module, non-path raises."""
    assert get_git_version(sys) == (None, None)
    with pytest.raises(TypeError, match="module or a path"):
        get_git_version(42)
