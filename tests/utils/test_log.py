"""track loggers."""

import logging

from track.utils.log import make_logger, set_log_level


def test_loggers_share_one_track_handler():
    """Every logger lives under `track` and the stderr handler is installed once."""
    a = make_logger("alpha")
    b = make_logger("beta")
    make_logger("alpha")
    root = logging.getLogger("track")

    assert a.name == "track.alpha"
    assert b.parent is root
    assert make_logger("track.gamma").name == "track.gamma"
    assert len([h for h in root.handlers if getattr(h, "_track_handler", False)]) == 1
    fmt = root.handlers[0].formatter.format(
        logging.LogRecord("track.alpha", logging.WARNING, __file__, 1, "hi", None, None)
    )
    assert fmt == "track: WARNING hi"


def test_set_log_level():
    """set_log_level controls all track loggers."""
    logger = make_logger("levels")
    set_log_level(logging.ERROR)
    assert not logger.isEnabledFor(logging.WARNING)
    set_log_level(logging.DEBUG)
    assert logger.isEnabledFor(logging.DEBUG)
    set_log_level()
    assert logging.getLogger("track").level == logging.INFO
