"""Errors that reach the user as one line, without a traceback.

Each names what was wrong (the file and line, the argument, the key) and,
where there is one, the remedy. The CLI prints `str(error)` and exits with
the error's `exit_status`: 2 for bad input, 4 for a corrupted file, 5 for a
lost worker of a multi-worker run. (The front door gives operating-system
errors 3 and Ctrl-C 130.)
"""


class RnnkitError(Exception):
    """A problem with the user's data, configuration or request."""

    exit_status = 2


class CorruptError(RnnkitError):
    """A file or folder of rnnkit's (a run, an export, a search) that is
    truncated, damaged or incomplete."""

    exit_status = 4


class DataError(RnnkitError, ValueError):
    """A data file that cannot be used: missing, empty, malformed."""


class ConfigError(RnnkitError, ValueError):
    """An unknown config key, or a value of the wrong type or range."""


class TrainingDiverged(RnnkitError):
    """The loss became NaN or infinite during training."""


class UsageError(RnnkitError):
    """A bad command-line argument."""


class WorkerLost(RnnkitError):
    """Another worker of a multi-worker run stopped, or stopped answering."""

    exit_status = 5
