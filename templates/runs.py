"""Run folders: `<task>/runs/<run-id>/` with the model, config and metrics.

A run is complete once its `metrics.json` exists; an interrupted run can be
resumed by training again with its id.
"""

import datetime
import json
import pathlib

from rnnkit.templates.errors import RnnkitError

RUNS = "runs"


def new_run_id(config):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{config['cell']}"


def run_dir(task_dir, run_id):
    return pathlib.Path(task_dir) / RUNS / run_id


def create(task_dir, config, run_id=None):
    """A new run folder, or an existing incomplete one to resume."""
    if run_id is None:
        run_id = new_run_id(config)
        suffix = 1
        while run_dir(task_dir, run_id).exists():
            suffix += 1
            run_id = f"{new_run_id(config)}-{suffix}"
    folder = run_dir(task_dir, run_id)
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
    return json.loads((pathlib.Path(folder) / "metrics.json").read_text())


def best(task_dir, metric, mode="max"):
    """The completed run with the best validation `metric` (highest, or
    lowest with `mode="min"`)."""
    runs = completed(task_dir)
    if not runs:
        raise RnnkitError(
            f"{task_dir}: no completed runs in {RUNS}/; run `rnnkit train` first"
        )
    pick = max if mode == "max" else min
    return pick(runs, key=lambda folder: metrics(folder)[metric])


def find(task_dir, run_id):
    folder = run_dir(task_dir, run_id)
    if not (folder / "metrics.json").is_file():
        known = [p.name for p in completed(task_dir)]
        raise RnnkitError(f"{folder}: no completed run {run_id!r}. Completed: {known}")
    return folder
