"""`rnnkit tune --workers N`: N trials at once on this machine, with Keras
Tuner's distributed mode over loopback gRPC.

The `rnnkit tune` process becomes the chief (`rnnkit.tuning.chief`). It
serves its oracle on 127.0.0.1 and starts N workers, each a
`python -m rnnkit tune` of the same task and settings with its own
`KERASTUNER_TUNER_ID` (tuner0, tuner1, ...). A worker asks the chief for a
trial, trains it in its trial worker (`rnnkit.tuning.worker`), reports the
result and asks again, until the chief has no trial left. The chief trains
nothing: once every worker has stopped, it writes the leaderboard and saves
the best run from the trials' files, as a one-process search does.

Each worker trains with `cores // N` intra-op threads and one inter-op
thread, so N workers do not fight over the cores. Its progress lines reach
the terminal as `[worker 1] trial 3/10 ...`; the rest of its output (Keras
Tuner's notes, TensorFlow's logs, its errors) goes to
`tuning/workers/worker1.log`.

Faults:

- A worker dies in a trial (killed, out of memory): a new worker with the
  same tuner id runs that trial again, as Keras Tuner's oracle hands a
  tuner id its unfinished trial; if the trial's worker dies again, the
  trial fails and the search goes on.
- A worker exits with an error between trials (it could not start, say):
  its last error line is shown and it is not restarted. If no worker is
  left to finish the search, the search fails with that line.
- Too many trials fail in a row: the chief stops handing out trials, lets
  the running ones finish, and the search fails with the last error.
- The chief is killed: every worker exits (they watch its pid), and running
  the same command again resumes the search.
- Ctrl-C: the chief stops its workers and exits with 130.
"""

import os
import pathlib
import shlex
import subprocess
import sys
import threading
import time

from rnnkit.templates import config as settings
from rnnkit.templates.errors import RnnkitError, UsageError

KERAS_TUNER_VARIABLES = (
    "KERASTUNER_TUNER_ID",
    "KERASTUNER_ORACLE_IP",
    "KERASTUNER_ORACLE_PORT",
)
CHIEF_PID = "RNNKIT_CHIEF_PID"  # a worker exits when this process is gone
INTRA_OP = "RNNKIT_INTRA_OP_THREADS"  # a worker's share of the cores
INTER_OP = "RNNKIT_INTER_OP_THREADS"
LOGS = "workers"  # in tuning/: each worker's whole output
POLL_SECONDS = 0.2  # how often the chief looks for workers that exited
STOP_SECONDS = 5  # a worker told to stop has this long before it is killed
RERUNS = 1  # times a trial whose worker died runs again before it fails


class WorkersFailed(RnnkitError):
    """Every worker stopped before the search was over."""


def check_environment(environ=os.environ):
    """Refuses `--workers` where Keras Tuner's distributed mode is already
    set up by hand: the two would start two chiefs for one search."""
    found = [name for name in KERAS_TUNER_VARIABLES if name in environ]
    if found:
        raise UsageError(
            f"--workers starts its own Keras Tuner chief and workers, but "
            f"{', '.join(found)} {'is' if len(found) == 1 else 'are'} set "
            "(a distributed search run by hand). Unset "
            f"{'it' if len(found) == 1 else 'them'}, or drop --workers"
        )


def core_count():
    """The cores this process may run on (its affinity, where known)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_shares(workers, cores=None):
    """`(intra_op, inter_op)` threads for each of `workers` processes: an
    equal share of the cores for the work inside each op, and one thread
    for running ops side by side, which a recurrent model's seldom can (each
    step waits on the last): a second would only oversubscribe the cores."""
    cores = cores or core_count()
    return max(1, cores // workers), 1


def limit_threads(environ=os.environ):
    """Applies the thread shares a chief passed down, if any. Call it after
    importing TensorFlow and before it runs anything, in the process that
    trains; returns the settings TensorFlow then has (0: its default)."""
    import tensorflow as tf

    threading_config = tf.config.threading
    if INTRA_OP in environ:
        threading_config.set_intra_op_parallelism_threads(int(environ[INTRA_OP]))
    if INTER_OP in environ:
        threading_config.set_inter_op_parallelism_threads(int(environ[INTER_OP]))
    return {
        "intra_op": threading_config.get_intra_op_parallelism_threads(),
        "inter_op": threading_config.get_inter_op_parallelism_threads(),
    }


def watch_chief(environ=os.environ):
    """In a worker that `--workers` started: exits when the chief is gone,
    even on SIGKILL, so a resumed search never races an orphan worker."""
    if CHIEF_PID in environ:
        from rnnkit.tuning.worker import exit_with

        exit_with(int(environ[CHIEF_PID]))


def worker_command(target, overrides):
    """`python -m rnnkit tune TARGET --set=KEY=VALUE ...`: the search of
    `target` with the same `overrides` (values as TOML literals)."""
    # config.toml's own writer: `--set` reads its values back unchanged.
    sets = [
        f"--set={key}={settings._toml_value(value)}"
        for key, value in (overrides or {}).items()
    ]
    return [sys.executable, "-m", "rnnkit", "tune", str(target), *sets]


def exit_text(code):
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class Worker:
    """One worker process: starts it, relays its progress lines, keeps its
    whole output in a log and its last error line.

    Args:
        number: the worker's number, from 1; its tuner id is `tuner<n-1>`.
        command: its command line.
        env: its environment, without its tuner id.
        log: the file its output is appended to.
        say: prints a line to the user.
    """

    def __init__(self, number, command, env, log, say):
        self.number = number
        self.tuner_id = f"tuner{number - 1}"
        self.name = f"worker {number}"
        self.log = pathlib.Path(log)
        self.say = say
        self.last_line = self.error_line = ""
        output = open(self.log, "a", encoding="utf-8")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        output.write(f"--- {stamp} {self.tuner_id}: {shlex.join(command)}\n")
        output.flush()
        try:
            self.process = subprocess.Popen(
                command,
                env={**env, "KERASTUNER_TUNER_ID": self.tuner_id},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                # Its own session: Ctrl-C reaches the chief alone, which stops it.
                start_new_session=True,
            )
        except OSError:
            output.close()
            raise
        self.relay = threading.Thread(target=self._relay, args=(output,), daemon=True)
        self.relay.start()

    def _relay(self, output):
        with output:
            for line in self.process.stdout:
                output.write(line)
                output.flush()
                line = line.rstrip()
                if line.startswith("trial "):  # `rnnkit.tuning.progress`
                    self.say(f"[{self.name}] {line}")
                elif line.startswith("rnnkit tune: "):  # its one-line error
                    self.error_line = line.removeprefix("rnnkit tune: ")
                elif line:
                    self.last_line = line

    def error(self, code):
        """Its error line, if it failed with exit code `code`: rnnkit's own
        line, else its last (a traceback's); "" if a signal killed it."""
        line = self.error_line or (self.last_line if code > 0 else "")
        return line.removeprefix("error: ")

    def ended(self):
        """Its exit code, once it has exited and its output is all read."""
        code = self.process.poll()
        if code is not None:
            # A trial worker it left behind holds the pipe until it notices.
            self.relay.join(timeout=STOP_SECONDS)
        return code

    def stop(self):
        """Ends it at once; its trial worker follows it (it watches it)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.relay.join(timeout=STOP_SECONDS)
