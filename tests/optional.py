"""Optional dependencies of the tests: skipped on a developer's machine, failed under ``CI=true``.

CI installs every extra, so a missing dependency there is a broken setup, not a reason to skip:
``require("module")`` imports what a test needs and ``unavailable(reason)`` gives up on anything
else missing (a browser, network namespaces, a reference folder). The GPU test is the only one
allowed to skip in CI (tests/system/test_gpu.py), because CI machines have no GPU.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when the suite runs in CI (``CI=true``), where nothing optional may be missing."""
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Give up on this test: fail under ``CI=true`` (a broken setup), skip otherwise."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(module: str, reason: str | None = None) -> ModuleType:
    """Import ``module`` for a test; when missing, fail under ``CI=true`` and skip otherwise."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        unavailable(f"{module} is not importable ({error}){f': {reason}' if reason else ''}")
