"""Run folders: `<task>/runs/<run-id>/` with the model, config and metrics.

A run is complete once its `metrics.json` exists; an interrupted run can be
resumed by training again with its id.
"""

import datetime
import itertools
import logging
import pathlib

from rnnkit.templates import config as settings
from rnnkit.templates.atomic import read_json
from rnnkit.templates.errors import CorruptError, RnnkitError, UsageError
from rnnkit.templates.names import path_component

RUNS = "runs"
log = logging.getLogger("rnnkit")


def new_run_id(config):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config['cell']}"


def run_dir(task_dir, run_id):
    return pathlib.Path(task_dir) / RUNS / run_id


def create(runs_folder, config, run_id=None, prefix=None):
    """A new run folder in `runs_folder` (a task's `runs/`), or an existing
    incomplete one to resume. New ids are a time stamp and the cell type,
    after `prefix` if given; each is claimed by creating its folder
    exclusively, so two trainings at once never share a run."""
    runs_folder = pathlib.Path(runs_folder)
    if run_id is None:
        stem = (
            new_run_id(config) if prefix is None else f"{prefix}-{new_run_id(config)}"
        )
        runs_folder.mkdir(parents=True, exist_ok=True)
        for suffix in itertools.count(1):
            folder = runs_folder / (stem if suffix == 1 else f"{stem}-{suffix}")
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue  # taken, by an earlier run or by one starting now
    folder = runs_folder / path_component(run_id, "--run-id")
    if (folder / "metrics.json").exists():
        raise RnnkitError(
            f"{folder}: run {run_id!r} is already complete; pick a new id"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def resumed_settings(runs_folder, run_id, overrides):
    """The settings of the unfinished run `run_id`, to resume it with, or
    None for a new run id. Settings given now (`overrides`) that differ from
    the run's own are refused, naming each; the run is left untouched."""
    file = pathlib.Path(runs_folder) / path_component(run_id, "--run-id")
    file = file / "config.toml"
    if not file.is_file():
        return None
    saved = settings.read_toml(file)
    merged = settings.merge(saved, overrides, "--set", file)
    changed = sorted(k for k in overrides if merged[k] != saved.get(k))
    if changed:
        own = ", ".join(f"{k}={saved.get(k)!r}" for k in changed)
        given = ", ".join(f"{k}={merged[k]!r}" for k in changed)
        raise UsageError(
            f"{file.parent}: run {run_id!r} was started with {own}, not {given}; "
            "resume it with its own settings (leave those out) or start a new "
            "run with another --run-id"
        )
    return saved


def is_run(path):
    """Whether `path` is a run folder itself (it holds the trained
    `model.keras`) rather than a task: the commands that take either ask
    this first."""
    return (pathlib.Path(path) / "model.keras").is_file()


def completed(task_dir):
    folder = pathlib.Path(task_dir) / RUNS
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / "metrics.json").is_file())


def metrics(folder):
    return read_json(pathlib.Path(folder) / "metrics.json", "run's metrics file")


# The headline metrics of each task, in the order they are printed.
HEADLINE_KEYS = (
    "accuracy",
    "macro_f1",
    "loss",
    "perplexity",
    "bits_per_token",
    "bleu",
    "chrf",
    "exact_match",
    "token_error_rate",
)


def headline(metrics):
    """`accuracy 0.8123, macro_f1 0.7900`: a run's headline numbers."""
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in HEADLINE_KEYS if k in metrics)


def best(task_dir, metric, mode="max"):
    """The completed run with the best validation `metric` (highest, or
    lowest with `mode="min"`)."""
    runs = completed(task_dir)
    if not runs:
        raise _no_runs(task_dir)
    scores, damaged = {}, []
    for folder in runs:
        try:
            read_json(folder / "metadata.json", "run's metadata")  # exportable?
            scores[folder] = float(metrics(folder)[metric])
        except (CorruptError, KeyError, TypeError, ValueError) as error:
            damaged.append(_reason(folder, error, metric))
    if not scores:
        raise CorruptError(
            damaged[0]
            if len(damaged) == 1
            else f"{pathlib.Path(task_dir) / RUNS}:"
            f" no run has a readable `{metric}`; the first: {damaged[0]}"
        )
    for reason in damaged:  # one damaged run must not block the others
        log.warning("skipped a damaged run: %s", reason)
    pick = max if mode == "max" else min
    return pick(scores, key=scores.get)


def _no_runs(task_dir):
    return RnnkitError(
        f"{task_dir}: no completed runs in {RUNS}/; run `rnnkit train` first"
    )


def check_pickable(task_dir, run_id=None):
    """The error `find(task_dir, run_id)` or `best(task_dir, ...)` would
    give for a missing run or for no completed run at all, without the
    task's code (which `best` needs for its metric): the commands that
    need a run answer these before TensorFlow loads."""
    if run_id:
        find(task_dir, run_id)
    elif not completed(task_dir):
        raise _no_runs(task_dir)


def _reason(folder, error, metric):
    if isinstance(error, CorruptError):
        return str(error)
    return f"{folder / 'metrics.json'}: no number `{metric}` in it"


def find(task_dir, run_id):
    folder = run_dir(task_dir, path_component(run_id, "--run"))
    if not (folder / "metrics.json").is_file():
        known = [p.name for p in completed(task_dir)]
        raise RnnkitError(f"{folder}: no completed run {run_id!r}. Completed: {known}")
    return folder
