"""Trials train in a worker process, so that a long search stays lean.

TensorFlow keeps part of every traced training function alive after the
model is gone, and `clear_session()` does not give it back: in one process,
RSS grows by 10 to 20 MiB per `fit` of a small recurrent model (seen on TF
2.21, with the Keras built-in GRU as with rnnkit's; tensorflow#61791). So
the search process only decides, and a worker process trains. The worker
lives across trials, which keeps TensorFlow's start-up out of all but the
first, and is replaced once it has grown by `RECYCLE_GROWTH_MIB`. If the
worker dies (the system killed it for memory, say), that trial fails and
the next one gets a new worker.

The worker exits when the search process does, even on SIGKILL, so a
resumed search never races an orphan writing the same trial's files. It
trains with the share of the cores that `rnnkit tune --workers` gave its
search process, if any (see `rnnkit.tuning.parallel.limit_threads`).
"""

import logging
import multiprocessing
import os
import pathlib
import signal
import threading
import time
import traceback

# No module-level keras_tuner (nor TensorFlow): the worker process imports
# this module first, and TensorFlow must load there through `quiet_start`,
# or its start-up lines reach the terminal.

RECYCLE_GROWTH_MIB = 256  # a worker grown this much is replaced
PARENT_CHECK_SECONDS = 0.5


def resident_mib():
    """This process's resident memory in MiB (Linux), or 0 where unknown."""
    status = pathlib.Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class WorkerError(RuntimeError):
    """A trial raised in the worker; the message holds its traceback."""


class TrialWorker:
    """The search process's handle on its worker: sends it one training
    at a time and starts, restarts and stops it.

    Args:
        target: the task folder or built-in name, as given to `rnnkit tune`.
        overrides: the config overrides of the search.
    """

    def __init__(self, target, overrides):
        self.target = str(target)
        self.overrides = overrides
        self.process = None
        self.starts = 0

    def _start(self):
        context = multiprocessing.get_context("spawn")  # no forked TF state
        ours, theirs = context.Pipe()
        self.process = context.Process(
            target=serve,
            args=(theirs, self.target, self.overrides, os.getpid()),
            daemon=True,
            name="rnnkit-trial-worker",
        )
        self.process.start()
        theirs.close()
        self.connection = ours
        self.starts += 1
        try:
            _, self.baseline_mib = self._receive()
        except WorkerError:
            self.stop()  # it could not even read the task
            raise

    def _receive(self):
        try:
            kind, *payload = self.connection.recv()
        except (EOFError, ConnectionError):
            import keras_tuner

            self.process.join(timeout=10)
            code = self.process.exitcode
            self.stop()
            raise keras_tuner.errors.FailedTrialError(
                f"the worker process training this trial died (exit code {code}). "
                "If the system killed it for memory, lower the [search] ranges of "
                "units, layers or embedding_dim, or batch_size"
            ) from None
        if kind == "error":
            raise WorkerError(payload[0])
        return kind, *payload

    def train(self, request):
        """Trains one execution of a trial; returns the worker's record of it
        (history, fit seconds, parameters, worker memory)."""
        if self.process is None:
            self._start()
        self.connection.send(request)
        kind, record = self._receive()
        if record["rss_mib"] - self.baseline_mib > RECYCLE_GROWTH_MIB:
            self.stop()
        if kind == "failed":
            import keras_tuner

            error = keras_tuner.errors.FailedTrialError(record["error"])
            error.record = record  # how far it got: history, parameters
            raise error
        return record

    def stop(self):
        if self.process is None:
            return
        try:
            self.connection.send(None)
        except (OSError, ValueError):
            pass  # already gone
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()
        self.process = None


def exit_with(parent_pid):
    """Ends this process as soon as its parent, `parent_pid`, is gone."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def serve(connection, target, overrides, parent_pid):
    """The worker's loop: one request in, one record out, until `None`."""
    exit_with(parent_pid)
    # Ctrl-C is the search process's to handle; this one ends with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("rnnkit").setLevel(logging.ERROR)  # warned once already
    try:
        from rnnkit.templates import quiet_start, tasks

        quiet_start.load_tensorflow()
        import keras_tuner

        from rnnkit.tuning import parallel
        from rnnkit.tuning.hypermodel import TaskHyperModel

        threads = parallel.limit_threads()  # before TensorFlow runs anything

        task = tasks.locate(target)
        config = task.config(overrides)
        hypermodel = TaskHyperModel(
            task, config, task.module.read_data(config, task.folder)
        )
    except Exception:
        connection.send(("error", traceback.format_exc()))
        return
    connection.send(("ready", resident_mib()))
    while (request := connection.recv()) is not None:
        try:
            record = hypermodel.train_execution(request)
            usage = {"rss_mib": resident_mib(), "threads": threads}
            connection.send(("done", {**record, **usage}))
        except keras_tuner.errors.FailedTrialError as error:
            record = hypermodel.executions[-1] if hypermodel.executions else {}
            usage = {"rss_mib": resident_mib(), "threads": threads}
            connection.send(("failed", {**record, "error": str(error), **usage}))
        except Exception:  # the trial's fault, not the worker's: carry on
            connection.send(("error", traceback.format_exc()))
