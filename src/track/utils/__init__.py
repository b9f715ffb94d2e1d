"""Small helpers shared across track: statistics, timing, throttling, signals and logging."""


class ItemNotFound(Exception):
    """Raised when a looked-up item (trial, project, group...) does not exist.

    A dedicated exception lets callers tell "missing" apart from genuine storage errors.
    """
