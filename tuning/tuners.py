"""Keras Tuner's own tuners, with three additions: the first trials are
the config's own model (see `rnnkit.tuning.oracles`); trials train in a
worker process (see `rnnkit.tuning.worker`); and every trial reports itself,
as a progress line and a record beside Keras Tuner's `trial.json`."""

import pathlib
import time

import keras_tuner
from keras_tuner.engine.trial import TrialStatus
from keras_tuner.src.engine.tuner_utils import SaveBestEpoch  # not public; see below

from rnnkit.templates import atomic
from rnnkit.tuning import oracles

RECORD = "rnnkit_trial.json"  # in each trial folder: histories, timings, size
IDLE_SECONDS = 0.5  # a distributed worker's pause before asking again
# Keras Tuner fails a search after this many failed trials in a row.
MAX_CONSECUTIVE_FAILURES = 3


def best_epoch_metrics(history, objective):
    """Every metric at the epoch where the objective was best."""
    values = history[objective.name]
    pick = max if objective.direction == "max" else min
    epoch = values.index(pick(values))
    return {name: series[epoch] for name, series in history.items()}


def settle_ended_trials(oracle):
    """After a reload: a trial whose own `trial.json` says it ended is not
    run again. Keras Tuner ends a trial by writing that file and then the
    oracle's state; a search killed in between left the trial among the
    running ones, which a reload sends for retry. (Keras Tuner's retry
    queue is not public.)"""
    ended = (TrialStatus.COMPLETED, TrialStatus.FAILED)
    for trial_id in list(oracle._retry_queue):
        if oracle.trials[trial_id].status in ended:
            oracle._retry_queue.remove(trial_id)
            if trial_id not in oracle.end_order:
                oracle.end_order.append(trial_id)


class InWorker:
    """A tuner mixin: trials train in `self.worker` (a
    `rnnkit.tuning.worker.TrialWorker`), and each is timed, recorded beside
    Keras Tuner's `trial.json` and reported to `self.progress`."""

    worker = None
    progress = None
    _asked = False  # for a trial, since the last one began

    def _populate_initial_space(self):
        # A distributed worker's oracle is the chief's, which declared the
        # space already; building the models of every conditional scope here
        # would only delay the worker's first trial.
        if not self._is_worker():
            super()._populate_initial_space()

    def pre_create_trial(self):
        # A distributed worker asks the chief again at once while its oracle
        # waits for other workers' trials (IDLE: Hyperband's next round, the
        # grid's last trials); a pause keeps it from spinning a core.
        if self._asked:
            time.sleep(IDLE_SECONDS)
        self._asked = True

    def reload(self):
        super().reload()
        if not self._is_worker():
            settle_ended_trials(self.oracle)

    def on_trial_begin(self, trial):
        self._asked = False
        self._trial_started = time.perf_counter()
        self._trial_began = time.time()
        self.hypermodel.start_trial()
        super().on_trial_begin(trial)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        """Keras Tuner's hook for one execution of a trial: here it hands
        the execution to the worker with what Keras Tuner prepared for it,
        the checkpoint, the TensorBoard folder and the epochs."""
        callbacks = kwargs.pop("callbacks", [])
        # Keras Tuner's checkpoint callback names the file the worker writes.
        checkpoint = next(c for c in callbacks if isinstance(c, SaveBestEpoch))
        board = [c for c in callbacks if type(c).__name__ == "TensorBoard"]
        values = trial.hyperparameters.values
        warm_start = None
        if "tuner/trial_id" in values:  # Hyperband continues an earlier trial
            warm_start = self._get_checkpoint_fname(values["tuner/trial_id"])
        objective = self.oracle.objective
        request = {
            "trial_id": trial.trial_id,
            "hyperparameters": trial.hyperparameters.get_config(),
            "execution": len(self.hypermodel.executions),
            "objective": (objective.name, objective.direction),
            "checkpoint": checkpoint.filepath,
            "best_value": checkpoint.best_value,
            "log_dir": str(board[0].log_dir) if board else None,
            "warm_start": warm_start,
            "fit": kwargs,  # epochs, and Hyperband's initial_epoch
        }
        try:
            record = self.worker.train(request)
        except keras_tuner.errors.FailedTrialError as error:
            if "history" in getattr(error, "record", {}):
                self.hypermodel.executions.append(error.record)
            raise
        self.hypermodel.executions.append(record)
        best = best_epoch_metrics(record["history"], objective)
        # The checkpoint callback is shared by a trial's executions; the
        # worker saved into it, so carry its best value on to the next.
        if objective.better_than(best[objective.name], checkpoint.best_value):
            checkpoint.best_value = best[objective.name]
        return best

    def on_trial_end(self, trial):
        executions = self.hypermodel.executions
        last = executions[-1] if executions else {}
        record = {
            "trial_seconds": time.perf_counter() - self._trial_started,
            "fit_seconds": sum(e["fit_seconds"] for e in executions),
            "params": executions[0]["params"] if executions else None,
            "histories": [e["history"] for e in executions],
            "worker_mib": last.get("rss_mib"),
            # Who trained it, when (Unix time) and with which TensorFlow
            # thread settings (0: TensorFlow's default, all the cores).
            "tuner_id": self.tuner_id,
            "began": self._trial_began,
            "ended": time.time(),
            "threads": last.get("threads"),
            "message": trial.message,  # a failed trial's error, for the chief
        }
        folder = pathlib.Path(self.get_trial_dir(trial.trial_id))
        atomic.write_json(folder / RECORD, record)
        try:
            super().on_trial_end(trial)  # may raise after repeated failures
        finally:
            if self.progress is not None:
                self.progress.trial_ended(self.oracle, trial, record)

    def on_search_end(self):
        super().on_search_end()
        self.worker.stop()


class Tuner(InWorker, keras_tuner.Tuner):
    """Random, bayesian, local and grid search: a Keras Tuner `Tuner` and oracle."""


class Hyperband(InWorker, keras_tuner.Hyperband):
    """Keras Tuner's Hyperband, reporting each trial."""


def create(kind, hypermodel, objective, search, seed, **common):
    """The tuner `kind` ("random", "bayesian", "local", "hyperband" or "grid")."""
    common["max_consecutive_failed_trials"] = MAX_CONSECUTIVE_FAILURES
    if kind == "hyperband":
        return Hyperband(
            hypermodel,
            objective=objective,
            max_epochs=search["epochs"],
            seed=seed,
            executions_per_trial=search["executions_per_trial"],
            **common,
        )
    kinds = {
        "random": oracles.RandomOracle,
        "bayesian": oracles.BayesianOracle,
        "local": oracles.LocalOracle,
        "grid": keras_tuner.oracles.GridSearchOracle,
    }
    oracle = kinds[kind](
        objective=objective,
        max_trials=search["max_trials"],
        seed=seed,
        max_consecutive_failed_trials=common.pop("max_consecutive_failed_trials"),
    )
    return Tuner(
        oracle=oracle,
        hypermodel=hypermodel,
        executions_per_trial=search["executions_per_trial"],
        **common,
    )
