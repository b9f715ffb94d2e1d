"""The seeds' ``get_log_record_constructor``: log records that say where, briefly."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

__all__ = ["get_log_record_constructor"]

#: the folder holding the ``track`` package: paths below it are shown from ``track/`` on
_BASE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep


def get_log_record_constructor() -> Callable[..., logging.LogRecord]:
    """A log record factory (for ``logging.setLogRecordFactory``) adding ``short_path``.

    Records are made by the factory installed now; each gains ``short_path``, the source
    file below track's package as ``track/persistence/local.py`` (other files keep their
    full path), so a format can show ``%(short_path)s:%(lineno)d``. Nothing is installed.
    """
    base = logging.getLogRecordFactory()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        path = record.pathname
        record.short_path = path[len(_BASE) :] if path.startswith(_BASE) else path
        return record

    return make_record
