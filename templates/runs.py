"""Run folders: `<task>/runs/<run-id>/` with the model, config and metrics.

A run is complete once its `metrics.json` exists; an interrupted run can be
resumed by training again with its id.
"""

import datetime
import logging
import pathlib

from rnnkit.templates.atomic import read_json
from rnnkit.templates.errors import CorruptError, RnnkitError
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
    after `prefix` if given."""
    runs_folder = pathlib.Path(runs_folder)
    if run_id is not None:
        path_component(run_id, "--run-id")
    if run_id is None:
        stem = (
            new_run_id(config) if prefix is None else f"{prefix}-{new_run_id(config)}"
        )
        run_id, suffix = stem, 1
        while (runs_folder / run_id).exists():
            suffix += 1
            run_id = f"{stem}-{suffix}"
    folder = runs_folder / run_id
    if (folder / "metrics.json").exists():
        raise RnnkitError(
            f"{folder}: run {run_id!r} is already complete; pick a new id"
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
        raise RnnkitError(
            f"{task_dir}: no completed runs in {RUNS}/; run `rnnkit train` first"
        )
    scores, damaged = {}, []
    for folder in runs:
        try:
            scores[folder] = float(metrics(folder)[metric])
        except (CorruptError, KeyError, TypeError, ValueError) as error:
            damaged.append(_reason(folder, error, metric))
    if not scores:
        raise CorruptError(
            damaged[0] if len(damaged) == 1 else f"{pathlib.Path(task_dir) / RUNS}:"
            f" no run has a readable `{metric}`; the first: {damaged[0]}"
        )
    for reason in damaged:  # one damaged run must not block the others
        log.warning("skipped a damaged run: %s", reason)
    pick = max if mode == "max" else min
    return pick(scores, key=scores.get)


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
