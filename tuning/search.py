"""`rnnkit tune`: a Keras Tuner search over a template's search space.

Everything lives in `<task>/tuning/`: Keras Tuner's own state in `search/`,
the fingerprint of the search in `search.json`, TensorBoard HParams logs in
`logs/`, and the leaderboard. The best trial becomes a normal run folder in
`<task>/runs/`, so `rnnkit export` exports it like any trained run.
"""

import dataclasses
import pathlib
import shutil
import warnings

from rnnkit.templates import atomic, runs, search_space, tasks, workflow
from rnnkit.templates import config as settings
from rnnkit.templates.errors import RnnkitError, UsageError
from rnnkit.tuning import leaderboard, oracles, parallel, state, tuners
from rnnkit.tuning.hypermodel import TaskHyperModel
from rnnkit.tuning.progress import Progress, last_error
from rnnkit.tuning.worker import TrialWorker

TUNING = "tuning"
PROJECT = "search"  # Keras Tuner's project folder inside tuning/
BEST = "best.json"  # which trial became which run


class TuningFailed(RnnkitError):
    """The search could not produce a model."""


@dataclasses.dataclass
class SearchResult:
    folder: pathlib.Path  # <task>/tuning
    leaderboard: pathlib.Path  # None in a distributed worker: the chief's job
    best_run: pathlib.Path  # None in a distributed worker
    objective: str
    best_score: float
    trials: int
    by_cell: dict = dataclasses.field(default_factory=dict)  # cell: best score


def check_tensorboard():
    """Keras Tuner imports tensorboard in every trial on the TensorFlow
    backend; without it every trial fails, so say so before the search."""
    try:
        import tensorboard.plugins.hparams.api  # noqa: F401
    except ImportError:
        raise RnnkitError(
            "tensorboard is not installed, and Keras Tuner needs it on the "
            "TensorFlow backend (every trial would fail). Install it: "
            "pip install tensorboard"
        ) from None


def _distributed_worker():
    """Whether this process is a worker of Keras Tuner's distributed mode
    (`KERASTUNER_TUNER_ID` and a chief's address in the environment): its
    oracle is the chief's, and the chief writes the results."""
    from keras_tuner.src.distribute import utils

    return utils.has_chief_oracle() and not utils.is_chief_oracle()


def _distributed_chief():
    """Whether this process is the chief of Keras Tuner's distributed mode,
    set up by hand (`KERASTUNER_TUNER_ID=chief`): it serves the trials to the
    workers, which train them, and writes the results."""
    from keras_tuner.src.distribute import utils

    return utils.is_chief_oracle()


def _planned_trials(tuner, search):
    """How many trials the search will run, where that is known."""
    oracle = tuner.oracle
    if search["tuner"] != "hyperband":
        return search["max_trials"]
    if _distributed_worker():
        return None  # the schedule is the chief's
    brackets = oracle._get_num_brackets()  # Keras Tuner has no public count
    return oracle.hyperband_iterations * sum(
        oracle._get_size(b, r)
        for b in range(brackets)
        for r in range(oracle._get_num_rounds(b))
    )


def _finished(tuner):
    if _distributed_worker():  # only the chief's oracle knows: ask it
        trials = tuner.oracle.get_best_trials(oracles.EVERY_TRIAL)
    else:
        trials = tuner.oracle.trials.values()
    return [t for t in trials if t.status in ("COMPLETED", "FAILED")]


def _join_search(folder, current, overwrite):
    """A distributed worker's check that it runs the chief's search. It
    reads no Keras Tuner file, which the chief may be writing (the chief
    checked them), and writes nothing: the folder is the chief's."""
    if overwrite:
        raise UsageError(
            "--overwrite deletes the search, which is the chief's to do: give it "
            "to the chief's command, not to a worker's (KERASTUNER_TUNER_ID="
            "tuner0 and so on)"
        )
    if (folder / state.FINGERPRINT).is_file():
        state.check_resume(folder, current)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _prepare_folder(task, config, overwrite):
    """The tuning folder, emptied with `overwrite`, or checked for resuming."""
    folder = task.workdir / TUNING
    current = state.fingerprint(task, config)
    if _distributed_worker():
        return _join_search(folder, current, overwrite)
    if overwrite and folder.exists():
        shutil.rmtree(folder)
    if (folder / PROJECT).exists():
        state.check_files(folder / PROJECT)
        state.check_resume(folder, current)
    folder.mkdir(parents=True, exist_ok=True)
    state.write_fingerprint(folder, current)
    return folder


def tune(target, overrides=None, overwrite=False, print_fn=print, workers=1):
    """Searches the task at `target`; returns a `SearchResult`.

    `overrides` are config settings (`{"search": {"max_trials": 3}}` and so
    on). A search that was interrupted resumes where it stopped: finished
    trials are kept and the interrupted one runs again. With `workers` > 1,
    that many worker processes run trials at once, and this process is
    their chief (see `rnnkit.tuning.parallel`).
    """
    if workers > 1:
        parallel.check_environment()
    parallel.watch_chief()  # in a worker of `--workers`
    check_tensorboard()
    import keras_tuner

    task = tasks.locate(target)
    config = task.config(overrides)
    search = config["search"]
    search_space.check_defaults(config)
    data = task.module.read_data(config, task.folder)  # errors before any trial
    folder = _prepare_folder(task, config, overwrite)
    hypermodel = TaskHyperModel(task, config, data)
    objective = keras_tuner.Objective(task.module.MONITOR, task.module.MONITOR_MODE)
    try:
        tuner = tuners.create(
            search["tuner"],
            hypermodel,
            objective,
            search,
            config["seed"],
            directory=str(folder),
            project_name=PROJECT,
            overwrite=False,
        )
    except (RuntimeError, KeyError, ValueError) as error:
        raise state.TuningStateError(
            f"{folder / PROJECT}: cannot reload the search ({error}); "
            f"{state.START_AFRESH}"
        ) from None
    tuner.worker = TrialWorker(target, overrides)
    total = _planned_trials(tuner, search)
    done = len(_finished(tuner))
    tuner.progress = Progress(total, objective.name, done, print_fn)
    what = f"{total} trials" if total else "trials"
    print_fn(
        f"{search['tuner']} search of {task.kind} in {folder}: {what} of up to "
        f"{search['epochs']} epochs, objective {objective.name} "
        f"({task.module.MONITOR_MODE})"
        + (f"; resuming after {done} finished trials" if done else "")
    )
    if workers > 1:
        # No more workers than trials left to run (interrupted ones included).
        count = min(workers, max(total - done, 1)) if total else workers
        command = parallel.worker_command(target, overrides)
        failure = _search_in_workers(tuner, folder, print_fn, count, command)
    elif _distributed_chief():
        failure = _search_in_workers(tuner, folder, print_fn)
    else:
        failure = _search_here(tuner, search, folder)
    if _distributed_worker():
        trained = tuner.progress.finished_here
        print_fn(f"{trained} trials trained here; the chief writes the results")
        return SearchResult(folder, None, None, objective.name, None, trained)
    names = [
        hp.name for hp in state.declared_space(task, config).space
    ]  # the leaderboard's columns, in declaration order
    table = leaderboard.rows(tuner, names)
    board = leaderboard.write(folder, table, objective.name)
    finished = _finished(tuner)
    if failure is not None:
        raise TuningFailed(
            f"{tuners.MAX_CONSECUTIVE_FAILURES} trials in a row failed, so the "
            f"search stopped (leaderboard: {board}). The last error: {failure}"
        )
    best = oracles.best_trials(tuner.oracle)
    if not best:
        raise TuningFailed(
            f"no trial completed (leaderboard: {board}). The last error: "
            f"{last_error(finished[-1]) if finished else 'none recorded'}"
        )
    run = save_best(tuner, task, hypermodel, best[0], folder)
    by_cell = {
        cell: row[objective.name]
        for cell, row in leaderboard.best_of_each_cell(table).items()
    }
    return SearchResult(
        folder, board, run, objective.name, best[0].score, len(finished), by_cell
    )


def _search_here(tuner, search, folder):
    """Runs the trials in this process (through its trial worker); returns
    the last trial's error if too many failed in a row, else `None`."""
    import keras

    try:
        tuner.search(
            epochs=search["epochs"],
            callbacks=[keras.callbacks.TensorBoard(str(folder / "logs"))],
            verbose=0,
        )
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        finished = _finished(tuner)
        return last_error(finished[-1]) if finished else str(error)
    finally:
        tuner.worker.stop()
    return None


def _search_in_workers(tuner, folder, print_fn, count=None, command=None):
    """Serves the trials to worker processes: `count` started here with
    `command`, or else those started by hand. Returns the last trial's error
    if too many failed in a row, else `None`."""
    from rnnkit.tuning.chief import Chief  # gRPC: only a chief needs it

    chief = Chief(tuner, command, folder, print_fn)
    failed = chief.run(count) if command else chief.serve_by_hand()
    return last_error(failed) if failed is not None else None


def _best_history(histories, objective):
    """The history of the training that reached the best objective value."""
    pick = max if objective.direction == "max" else min
    return pick(histories, key=lambda h: pick(h[objective.name]))


def save_best(tuner, task, hypermodel, trial, folder):
    """The best trial as a run folder in `<task>/runs/` (once per trial)."""
    marker = folder / BEST
    if marker.is_file():
        saved = state.read_json(marker)
        run = pathlib.Path(saved["run"])
        if saved["trial"] == trial.trial_id and (run / "metrics.json").is_file():
            return run
    config = hypermodel.trial_config(trial.hyperparameters)
    record = state.read_json(
        pathlib.Path(tuner.get_trial_dir(trial.trial_id)) / tuners.RECORD
    )
    history = _best_history(record["histories"], tuner.oracle.objective)
    with warnings.catch_warnings():
        # The checkpoint holds the trial's optimizer state too; only the
        # weights matter for the run, so Keras's note about it is noise.
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        model = tuner.load_model(trial)  # the best epoch's weights
    # A fresh optimizer has no slots yet; built, the saved run reloads quietly.
    model.optimizer.build(model.trainable_variables)
    run = runs.create(task.workdir / runs.RUNS, config, prefix="tuned")
    settings.write(config, run / "config.toml")
    workflow.save_run(task, config, hypermodel.data, model, history, run)
    atomic.write_json(
        marker, {"trial": trial.trial_id, "run": str(run), "score": trial.score}
    )
    return run
