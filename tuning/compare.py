"""`rnnkit compare`: the fair comparison of the cell types on one task.

Each cell type trains on the same data and split, for the same epochs, at
the same size (or, with `match="params"`, at about the same parameter
count), once per seed. Early stopping is off, so every run gets the whole
budget. The report gives the validation metric as mean ± std over seeds,
the parameter count, the training time per epoch and the inference latency
per batch, and says whether the winner's lead is larger than the noise.
"""

import dataclasses
import json
import shutil
import statistics
import time

import keras

from rnnkit.templates import runs, tasks, workflow
from rnnkit.templates.errors import RnnkitError

COMPARE = "compare"
LATENCY_REPEATS = 20


class EpochTimer(keras.callbacks.Callback):
    """Seconds per training epoch, validation excluded."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_test_begin(self, logs=None):
        # Validation runs inside the epoch; stop the clock before it.
        if hasattr(self, "_started"):
            self.seconds.append(time.perf_counter() - self._started)
            del self._started


@dataclasses.dataclass
class CellResult:
    """One cell type's runs: the metric per seed and what the model costs."""

    cell: str
    units: int
    params: int
    values: list  # the validation metric, one per seed
    curves: list  # the monitored validation metric per epoch, one list per seed
    epoch_seconds: float  # median training time of an epoch
    latency_ms: float  # median time of one inference batch
    runs: list

    @property
    def mean(self):
        return statistics.fmean(self.values)

    @property
    def std(self):
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


def count_params(task, config, data, units):
    keras.utils.set_random_seed(config["seed"])
    model = workflow.built_model(task, config.updated({"units": units}), data)
    return model.count_params()


def matched_units(task, config, data, cell, target):
    """The units at which `cell` has the parameter count nearest `target`.

    Parameter count grows with units, so a bisection finds the crossing."""
    config = config.updated({"cell": cell})
    low, high = 1, 2
    while count_params(task, config, data, high) < target:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if count_params(task, config, data, middle) < target:
            low = middle
        else:
            high = middle
    below = abs(count_params(task, config, data, low) - target)
    above = abs(count_params(task, config, data, high) - target)
    return low if below < above else high


def sizes(task, config, data, cells, match):
    """Units per cell: the config's, or matched to the parameter count of
    the config's own cell (the first of `cells` if it is not among them)."""
    if match == "units":
        return {cell: config["units"] for cell in cells}
    reference = config["cell"] if config["cell"] in cells else cells[0]
    target = count_params(
        task, config.updated({"cell": reference}), data, config["units"]
    )
    return {
        cell: config["units"]
        if cell == reference
        else matched_units(task, config, data, cell, target)
        for cell in cells
    }


def latency_ms(task, run, data):
    """Median milliseconds of one inference batch of validation data."""
    _, model, config, _ = workflow.load_run(run, task)
    _, validation = task.module.datasets(config, data)
    inputs, _ = next(iter(validation))
    for _ in range(3):  # tracing and warm-up
        model.predict_on_batch(inputs)
    times = []
    for _ in range(LATENCY_REPEATS):
        started = time.perf_counter()
        model.predict_on_batch(inputs)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def _prepare(folder, overwrite):
    if folder.exists():
        if not overwrite:
            raise RnnkitError(
                f"{folder}: an earlier comparison is there; pass --overwrite to "
                "replace it"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def compare(
    target,
    cells=None,
    seeds=3,
    match="units",
    overrides=None,
    overwrite=False,
    print_fn=print,
):
    """Trains every cell type (`cells`, default all) once per seed; returns
    `(folder, results)`."""
    from rnnkit.layers import CELL_TYPES
    from rnnkit.tuning import report

    cells = CELL_TYPES if cells is None else cells
    task = tasks.locate(target)
    overrides = dict(overrides or {})
    config = task.config(overrides)
    data = task.module.read_data(config, task.folder)  # errors before any run
    folder = task.workdir / COMPARE
    _prepare(folder, overwrite)
    units = sizes(task, config, data, list(cells), match)
    results = []
    for cell in cells:
        timer = EpochTimer()
        trained = []
        for seed in range(config["seed"], config["seed"] + seeds):
            print_fn(f"training {cell} (units {units[cell]}), seed {seed}")
            trained.append(
                workflow.train(
                    target,
                    overrides={
                        **overrides,
                        "cell": cell,
                        "units": units[cell],
                        "patience": config["epochs"],  # the whole budget
                    },
                    run_id=f"{cell}-seed{seed}",
                    verbose=0,
                    runs_dir=folder / runs.RUNS,
                    callbacks=[timer],
                    training_seed=seed,  # the split stays the config seed's
                )
            )
        histories = [json.loads((run / "history.json").read_text()) for run in trained]
        results.append(
            CellResult(
                cell=cell,
                units=units[cell],
                params=workflow.load_run(trained[0], task)[1].count_params(),
                values=[
                    runs.metrics(run)[task.module.PRIMARY_METRIC] for run in trained
                ],
                curves=[h[task.module.MONITOR] for h in histories],
                epoch_seconds=statistics.median(timer.seconds),
                latency_ms=latency_ms(task, trained[0], data),
                runs=[run.name for run in trained],
            )
        )
    baselines = []
    if hasattr(task.module, "baselines"):  # an optional hook
        baselines = task.module.baselines(config, data)
        metric = task.module.PRIMARY_METRIC
        for baseline in baselines:
            print_fn(f"baseline {baseline['name']}: {metric} {baseline[metric]:.4f}")
    report.write(folder, results, task.module, match, config["epochs"], baselines)
    return folder, results
