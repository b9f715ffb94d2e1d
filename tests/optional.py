"""Optional dependencies of the tests: skipped on a developer's machine, failed under ``CI=true``.

CI installs every extra, so a missing dependency there is a broken setup, not a reason to skip:
``require("module")`` imports what a test needs and ``unavailable(reason)`` gives up on anything
else missing (a browser, network namespaces, a reference folder). The GPU test is the only one
allowed to skip in CI (tests/system/test_gpu.py), because CI machines have no GPU.

``TRACK_TEST_CORE_ONLY=1`` says the optional extras are absent on purpose: CI's runs of the core
suite on the oldest and newest Python install track without extras (see .ci/run). There,
``require()`` skips with the reason "core-only run" instead of failing; ``unavailable()`` still
fails under ``CI=true``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

#: read once at import: the suite's autouse fixture clears TRACK_* variables inside each test
CORE_ONLY = os.environ.get("TRACK_TEST_CORE_ONLY") == "1"


def in_ci() -> bool:
    """True when the suite runs in CI (``CI=true``), where nothing optional may be missing."""
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> NoReturn:
    """Give up on this test: fail under ``CI=true`` (a broken setup), skip otherwise."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(module: str, reason: str | None = None) -> ModuleType:
    """Import ``module`` for a test; when missing, fail under ``CI=true`` and skip otherwise
    (and always skip in a core-only run, where the extras are absent on purpose)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if CORE_ONLY:
            pytest.skip(f"core-only run: {module} is not installed", allow_module_level=True)
        unavailable(f"{module} is not importable ({error}){f': {reason}' if reason else ''}")
