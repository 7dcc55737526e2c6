"""The chief of `rnnkit tune --workers N` (see `rnnkit.tuning.parallel`):
serves the search's oracle to N worker processes over loopback gRPC, and
keeps them going until the search is over.

Keras Tuner's own chief (`oracle_chief.start_server`) knows nothing of
worker processes: it waits until every trial it handed out has ended, so a
worker killed in a trial would leave it waiting forever. And when too many
trials fail in a row, Keras Tuner raises inside the oracle's `end_trial`,
here in a gRPC thread: that skips saving and releasing the trial and leaves
the oracle's lock taken (`keras_tuner.synchronized` has no `finally`), and
the worker gets a gRPC error for a failure that is the search's. So this
chief watches its workers' processes, and counts the failures itself.
"""

import collections
import contextlib
import json
import os
import pathlib
import sys
import threading
import time
from concurrent import futures

import grpc
from keras_tuner.engine.trial import Trial, TrialStatus
from keras_tuner.src import protos  # not public: Keras Tuner's gRPC messages
from keras_tuner.src.distribute import oracle_chief

from rnnkit.templates import quiet_start
from rnnkit.templates.errors import RnnkitError
from rnnkit.tuning import parallel, tuners


class OracleService(oracle_chief.OracleServicer):
    """Keras Tuner's gRPC service of an oracle, which tells `chief` when a
    trial ends and hands out no more trials once `chief` stops the search.

    Args:
        oracle: the search's oracle.
        chief: the `Chief` serving it.
    """

    def __init__(self, oracle, chief):
        super().__init__(oracle)
        self.chief = chief

    def CreateTrial(self, request, context):
        if self.chief.failed is None:
            trial = self.oracle.create_trial(request.tuner_id)
        else:
            trial = Trial(self.oracle.get_space(), status=TrialStatus.STOPPED)
            self.oracle.tuner_ids.discard(request.tuner_id)  # as Keras Tuner's
        if trial.status == TrialStatus.STOPPED:
            self.chief.stopped = True
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def EndTrial(self, request, context):
        trial = Trial.from_proto(request.trial)
        if trial.message is None:  # Keras Tuner's message has no room for it
            trial.message = self.chief.message_of(trial.trial_id)
        self.oracle.end_trial(trial)
        self.chief.count_failures()
        return protos.get_service().EndTrialResponse()


SERVICE_THREAD = "rnnkit-oracle"  # the name of the gRPC thread serving the oracle


class QuietThread:
    """A stream that drops what the oracle's gRPC thread writes to it.

    Keras Tuner 1.4.8 prints the values of each conditional
    hyperparameter's parent as it turns a trial into a gRPC message (a
    `print` left in `Parent.to_proto`): several lines per trial served.

    Args:
        stream: the stream every other thread writes to.
    """

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        if threading.current_thread().name.startswith(SERVICE_THREAD):
            return len(text)
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Chief:
    """Runs a search with worker processes: serves `tuner`'s oracle, starts
    the workers, restarts one that dies in a trial, and stops them all when
    the search is over or interrupted.

    Args:
        tuner: the search's tuner; the chief uses its oracle.
        command: the workers' command line (`parallel.worker_command`).
        folder: the search's `tuning/` folder; logs go to its `workers/`.
        print_fn: where the workers' progress lines and faults go.
    """

    def __init__(self, tuner, command, folder, print_fn=print):
        self.tuner = tuner
        self.oracle = tuner.oracle
        self.command = command
        self.logs = pathlib.Path(folder) / parallel.LOGS
        self.print = print_fn
        self.lock = threading.Lock()  # workers' lines come from their threads
        self.workers = {}  # tuner id: its running `parallel.Worker`
        self.gone = {}  # tuner id: (its last worker, that worker's exit code)
        self.reruns = collections.Counter()  # trial id: runs after a death
        self.limit = self.oracle.max_consecutive_failed_trials
        self.failed = None  # the last failed trial, once too many in a row
        self.stopped = False  # the oracle told a worker there was no trial left
        self.last_error = None  # the last worker that failed, and its error

    def say(self, line):
        with self.lock:
            self.print(line)

    @contextlib.contextmanager
    def _serving(self, address):
        """The oracle, served at `address` inside the block; yields the port."""
        threads = futures.ThreadPoolExecutor(1, thread_name_prefix=SERVICE_THREAD)
        # No second server on a port in use (gRPC shares it by default).
        server = grpc.server(threads, options=[("grpc.so_reuseport", 0)])
        service = OracleService(self.oracle, self)
        protos.get_service_grpc().add_OracleServicer_to_server(service, server)
        try:
            with quiet_start.quiet_stderr():  # gRPC's own log line of it
                port = server.add_insecure_port(address)
        except RuntimeError:
            raise RnnkitError(
                f"cannot serve the search on {address}: the address is in use or "
                "not this machine's; check KERASTUNER_ORACLE_IP and "
                "KERASTUNER_ORACLE_PORT"
            ) from None
        server.start()
        self.oracle.verbose = 0  # Keras Tuner's trial tables: not for the user
        self.oracle.max_consecutive_failed_trials = None  # counted here instead
        try:
            with contextlib.redirect_stdout(QuietThread(sys.stdout)):
                self.tuner.save()  # the oracle's state on disk, as Keras Tuner's
                yield port
        finally:
            server.stop(None)
            threads.shutdown(wait=False)
            self.oracle.max_consecutive_failed_trials = self.limit

    def serve_by_hand(self):
        """Serves workers started by hand, at the address that
        `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` give, until each
        worker that came was told the search is over and no trial runs;
        returns as `run` does. (A worker that died in a trial holds it until
        a worker with its tuner id comes again.)"""
        environ = os.environ
        address = (
            f"{environ['KERASTUNER_ORACLE_IP']}:{environ['KERASTUNER_ORACLE_PORT']}"
        )
        with self._serving(address):
            self.say(f"serving the search on {address} to workers started by hand")
            oracle = self.oracle
            while not (
                self.stopped and not oracle.ongoing_trials and not oracle.tuner_ids
            ):
                time.sleep(1)
        return self.failed

    def run(self, count):
        """Searches with `count` workers until each has stopped; returns the
        last failed trial if too many failed in a row, else `None`."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with self._serving("127.0.0.1:0") as port:  # a free port
            try:
                self.env = self._environment(port, count)
                for number in range(1, count + 1):
                    self._start(number)
                self._supervise()
            finally:
                for worker in list(self.workers.values()):
                    worker.stop()
        if self.failed is None and not self.stopped:
            name, error = self.last_error or ("every worker", "no error shown")
            raise parallel.WorkersFailed(
                f"every worker stopped before the search was over; the last "
                f"error ({name}): {error}. Their logs: {self.logs}; run the same "
                "command again to resume the search"
            )
        return self.failed

    def _environment(self, port, count):
        intra, inter = parallel.thread_shares(count)
        self.say(
            f"{count} workers, each with {intra} intra-op and {inter} inter-op "
            f"threads, on 127.0.0.1:{port}; their logs: {self.logs}"
        )
        return {
            **os.environ,
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
            parallel.CHIEF_PID: str(os.getpid()),
            parallel.INTRA_OP: str(intra),
            parallel.INTER_OP: str(inter),
            "PYTHONUNBUFFERED": "1",  # each progress line as it comes
        }

    def _start(self, number):
        log = self.logs / f"worker{number}.log"
        worker = parallel.Worker(number, self.command, self.env, log, self.say)
        self.workers[worker.tuner_id] = worker

    def _supervise(self):
        while self.workers:
            time.sleep(parallel.POLL_SECONDS)
            for worker in list(self.workers.values()):
                code = worker.ended()
                if code is not None:
                    del self.workers[worker.tuner_id]
                    self.gone[worker.tuner_id] = (worker, code)
                    self._report(worker, code)
            # Also a trial handed out as its worker was dying: seen here later.
            for tuner_id, trial in dict(self.oracle.ongoing_trials).items():
                if tuner_id in self.gone and tuner_id not in self.workers:
                    self._died_in(trial, *self.gone[tuner_id])

    def _report(self, worker, code):
        holds_trial = worker.tuner_id in self.oracle.ongoing_trials
        if code != 0 and not holds_trial:
            how, error = parallel.exit_text(code), worker.error(code)
            self.last_error = (worker.name, error or how)
            said = f"[{worker.name}] stopped ({how})"
            self.say(said + (f": {error}" if error else ""))

    def _died_in(self, trial, worker, code):
        """A worker died in `trial`: runs it again in a new worker once,
        then fails it."""
        how = parallel.exit_text(code)
        error = worker.error(code)
        what = f"[{worker.name}] died in trial {int(trial.trial_id) + 1} ({how})"
        if self.failed is None and self.reruns[trial.trial_id] < parallel.RERUNS:
            self.reruns[trial.trial_id] += 1
            self.say(f"{what}; a new worker runs the trial again")
        else:
            self.say(f"{what}; the trial failed")
            times = self.reruns[trial.trial_id] + 1
            message = (
                f"the worker process training this trial died ({how}"
                + (f": {error}" if error else "")
                + (f"), {times} times" if times > 1 else ")")
            )
            failed = TrialStatus.FAILED
            ended = Trial(trial.hyperparameters, trial.trial_id, failed, message)
            self.oracle.end_trial(ended)
            self.count_failures()
        self.last_error = (worker.name, error or how)
        if self.failed is None:
            self._start(worker.number)

    def message_of(self, trial_id):
        """The error of a worker's failed trial, from the trial's record: a
        trial comes back over gRPC without it."""
        path = pathlib.Path(self.tuner.get_trial_dir(trial_id)) / tuners.RECORD
        try:
            return json.loads(path.read_text()).get("message")
        except (OSError, ValueError):
            return None

    def count_failures(self):
        """Stops the search once `limit` trials in a row have failed, as
        Keras Tuner's own check would."""
        trials = [self.oracle.trials[i] for i in list(self.oracle.end_order)]
        run = longest = 0
        for trial in trials:
            run = run + 1 if trial.status == TrialStatus.FAILED else 0
            longest = max(longest, run)
        if self.limit and longest >= self.limit and self.failed is None:
            self.failed = [t for t in trials if t.status == TrialStatus.FAILED][-1]
