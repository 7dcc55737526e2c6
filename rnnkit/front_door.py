"""How a command ends: its result, or one line saying what failed.

Every expected failure becomes `rnnkit <command>: error: <what, where, what
to do>` with its own exit status, and a traceback is shown only for a bug
(or for anything, with `--debug`):

- 2: bad input (an argument, a setting, a data file, a request);
- 3: the operating system refused (permission, no such folder, a file where
  a folder should be, a full disk);
- 4: a damaged file of rnnkit's or TensorFlow's (a run, an export, a search);
- 5: another worker of a multi-worker training was lost;
- 130: interrupted (Ctrl-C);
- 1: a bug in rnnkit, and its traceback.

TensorFlow loads without its start-up chatter (`quiet_start`).
"""

import contextlib
import errno
import signal
import sys
import threading
import traceback

from rnnkit.templates.errors import RnnkitError

OS_ERROR, INTERRUPTED, BUG = 3, 130, 1

# What to do about an operating-system error, by errno.
REMEDIES = {
    errno.EACCES: "check the permissions",
    errno.EPERM: "check the permissions",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "give a file, not a folder",
    errno.EEXIST: "it exists already; choose another path",
    errno.ENOSPC: "free some disk space and run it again",
    errno.EROFS: "the file system is read-only; choose another path",
}


def os_error_line(error):
    """`<path>: <reason>; <remedy>` for an `OSError`."""
    where = error.filename if error.filename is not None else "a file"
    if error.filename2 is not None:
        where = f"{where} -> {error.filename2}"
    reason = error.strerror or str(error)
    remedy = REMEDIES.get(error.errno)
    return f"{where}: {reason}" + (f"; {remedy}" if remedy else "")


def run(command, handler, args, debug=False):
    """Runs `handler(args)`; returns the exit status, printing one line for
    an expected failure."""

    def fail(status, message):
        if debug:
            traceback.print_exc()
        print(f"rnnkit {command}: error: {message}", file=sys.stderr)
        return status

    interrupts = []
    try:
        with _noting_interrupts(interrupts):
            return handler(args)
    except KeyboardInterrupt:
        return fail(INTERRUPTED, "interrupted (Ctrl-C); " + _resume_hint(command))
    except RnnkitError as error:
        return fail(error.exit_status, str(error))
    except OSError as error:
        return fail(OS_ERROR, os_error_line(error))
    except Exception as error:
        # Ctrl-C does not always surface as KeyboardInterrupt: TensorFlow
        # rewraps it inside its ops, and one landing inside a C call of
        # CPython's (a list built while TensorFlow traces a graph) comes out
        # as "SystemError: bad argument to internal function".
        if interrupts or "KeyboardInterrupt" in str(error):
            return fail(INTERRUPTED, "interrupted (Ctrl-C); " + _resume_hint(command))
        # A bug: the traceback is for the report.
        traceback.print_exc()
        print(
            f"rnnkit {command}: internal error: {type(error).__name__}: {error}. "
            "This is a bug in rnnkit; please report it with the traceback above",
            file=sys.stderr,
        )
        return BUG


@contextlib.contextmanager
def _noting_interrupts(interrupts):
    """Appends to `interrupts` on each SIGINT, then raises KeyboardInterrupt
    as Python's own handler does. Only Python's own handler is wrapped, and
    only in the main thread (the only one that may set handlers); a SIGINT
    that is ignored stays ignored."""
    previous = signal.getsignal(signal.SIGINT)
    if (
        previous is not signal.default_int_handler
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return

    def note_and_raise(signum, frame):
        interrupts.append(signum)
        previous(signum, frame)

    signal.signal(signal.SIGINT, note_and_raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _resume_hint(command):
    if command == "train":
        return "train again with the same --run-id to resume the run"
    if command == "tune":
        return "run the same command again to resume the search"
    return "nothing was changed"
