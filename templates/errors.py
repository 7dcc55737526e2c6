"""Errors that reach the user as one line, without a traceback.

Each names what was wrong (the file and line, the argument, the key) and,
where there is one, the remedy. The CLI prints `str(error)` and exits 2.
"""


class RnnkitError(Exception):
    """A problem with the user's data, configuration or request."""


class DataError(RnnkitError, ValueError):
    """A data file that cannot be used: missing, empty, malformed."""


class ConfigError(RnnkitError, ValueError):
    """An unknown config key, or a value of the wrong type or range."""


class TrainingDiverged(RnnkitError):
    """The loss became NaN or infinite during training."""


class UsageError(RnnkitError):
    """A bad command-line argument."""
