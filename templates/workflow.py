"""The user's day with a task's code: train, evaluate a run, and export.
Each works on any task through the hooks of the task contract (see
`rnnkit.templates.contract`); using an export needs no task code (see
`rnnkit.templates.inference`)."""

import contextlib
import pathlib
import shutil
import zipfile

from rnnkit.templates import (
    atomic,
    distribute,
    evaluation,
    export,
    inference,
    runs,
    streaming,
    tasks,
    training,
)
from rnnkit.templates import config as settings
from rnnkit.templates.errors import ConfigError, CorruptError, DataError, RnnkitError
from rnnkit.templates.names import path_component


def load_keras_model(path, custom_objects=None):
    """A `.keras` file, with a clear error for anything else; never unsafe.

    `custom_objects` are the classes a task's model is made of beyond
    Keras and rnnkit (see `tasks.Task.custom_objects`)."""
    import keras

    import rnnkit.layers  # noqa: F401  (registers the rnnkit classes)
    import rnnkit.templates.text_encoder  # noqa: F401  (and the text encoder)

    path = pathlib.Path(path)
    if not path.is_file():
        raise RnnkitError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise CorruptError(f"{path}: corrupt or not a .keras archive")
    try:
        # safe_mode stays on: no lambdas, ever
        return keras.models.load_model(path, custom_objects=custom_objects)
    except (zipfile.BadZipFile, OSError, KeyError, EOFError) as error:
        raise CorruptError(
            f"{path}: corrupt or not a .keras archive ({error})"
        ) from None
    except (ValueError, TypeError) as error:
        reason = str(error).strip().splitlines()[0]
        raise DataError(f"{path}: refused to load: {reason}") from None


def train(
    target,
    data=None,
    overrides=None,
    run_id=None,
    verbose="auto",
    runs_dir=None,
    callbacks=(),
    training_seed=None,
    placement=None,
):
    """Trains the task at `target`; returns the run folder.

    Runs go to `<task>/runs/` unless `runs_dir` says otherwise; `callbacks`
    join the training's own (the comparison report times epochs with one).
    `training_seed` seeds the weights, dropout and shuffling in place of the
    config's `seed`, which still draws the validation split: the comparison
    report trains with several seeds on one split.
    `placement` (`distribute.start`) trains under a `tf.distribute` strategy;
    a worker that is not the chief trains in a scratch run of its own, which
    it deletes once done, and returns the chief's run folder.
    """
    import keras

    placement = placement or distribute.Placement()
    task = tasks.locate(target)
    overrides = dict(overrides or {})
    if data is not None:
        overrides["data"] = str(pathlib.Path(data).resolve())
    config = task.config(overrides)
    chief_runs = runs_dir or task.workdir / runs.RUNS
    runs_folder = placement.runs_folder(chief_runs)
    if run_id is not None:
        config = resumed_config(task, runs_folder, run_id, config, overrides)
    placement.check_config(config)
    keras.utils.set_random_seed(config["seed"])
    data = task.module.read_data(config, task.folder)  # errors before any run
    run = runs.create(runs_folder, config, run_id)
    if not (run / "config.toml").exists():  # a resumed run keeps its own
        settings.write(config, run / "config.toml")
    seeded = config
    if training_seed is not None:
        keras.utils.set_random_seed(training_seed)
        seeded = config.updated({"seed": training_seed})
    # Under a strategy, validating calls collectives too (generation's
    # `evaluate`): every worker saves a run, the others theirs in scratch.
    with placement.scope(), placement.watch():
        model = built_model(task, config, data, placement.strategy)
        train_ds, validation_ds = task.module.datasets(seeded, data)
        history = training.fit(
            model,
            train_ds,
            validation_ds,
            config,
            run,
            task.module.MONITOR,
            task.module.MONITOR_MODE,
            verbose,
            [
                *getattr(task.module, "training_callbacks", lambda c: [])(config),
                *callbacks,
            ],
            placement.strategy,
        )
        extra = {} if training_seed is None else {"training_seed": training_seed}
        save_run(task, config, data, model, history, run, extra)
    return run if placement.is_chief else _chiefs_run(run, chief_runs)


def _chiefs_run(scratch, chief_runs):
    """A worker other than the chief deletes its scratch run once done: the
    run is the chief's."""
    shutil.rmtree(scratch)
    with contextlib.suppress(OSError):  # unless other runs are in it
        scratch.parent.rmdir()
    return pathlib.Path(chief_runs) / scratch.name


def resumed_config(task, runs_folder, run_id, config, overrides):
    """The settings to train run `run_id` with: its own, if it was started
    and not finished (see `runs.resumed_settings`), else `config`."""
    saved = runs.resumed_settings(runs_folder, run_id, overrides)
    if saved is None:
        return config
    file = pathlib.Path(runs_folder) / run_id / "config.toml"
    resumed = settings.Config(saved, file, config.code)
    task.module.check_config(resumed)
    return resumed


def built_model(task, config, data, strategy=None):
    """The task's model for `config`, built and compiled in the scope of a
    `tf.distribute` `strategy` if given; settings Keras cannot build, or that
    do not fit in memory, are one error naming the config."""
    import tensorflow as tf

    scope = contextlib.nullcontext() if strategy is None else strategy.scope()
    try:
        with scope:
            return task.module.build_model(config, data)
    except (ValueError, TypeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error) else repr(error)
        raise ConfigError(
            f"{config.source}: these settings do not make a model: {reason}"
        ) from None
    except (tf.errors.ResourceExhaustedError, MemoryError):
        raise ConfigError(
            f"{config.source}: out of memory building the model; lower units, "
            "layers, embedding_dim or vocabulary_size"
        ) from None


def save_run(task, config, data, model, history, run, extra_metadata=None):
    """Writes a trained model's run folder: the model, its history, metadata
    and validation metrics. `rnnkit tune` saves its best trial with it."""
    model.save(run / "model.keras")
    atomic.write_json(run / "history.json", history)
    meta = {
        "task": task.kind,
        **task.module.metadata(config, data, model),
        **(extra_metadata or {}),
    }
    atomic.write_json(run / "metadata.json", meta)
    with streaming.pipeline_errors():  # validation data read from disk
        validation = task.module.validate(model, config, data, meta)
    if hasattr(task.module, "evaluation_report"):
        task.module.evaluation_report(validation, run)
    atomic.write_json(
        run / "metrics.json",
        {
            **validation,
            "split": "validation",
            "epochs_trained": len(history["loss"]),
            **task.module.data_summary(data),
        },
    )
    return run


def evaluate(target, data, run_id=None):
    """Metrics on the held-out `data` of a SavedModel, a run or a task's best
    run. A run is scored by its task's code, reading `data` as the task
    reads its own; a SavedModel by itself (see `inference.evaluate`)."""
    path = pathlib.Path(target)
    if export.is_export(path):
        return inference.evaluate(path, data)
    task = None
    if runs.is_run(path):
        run = path
    else:
        task = tasks.locate(target)
        run = _pick_run(task, run_id)
    task, model, config, meta = load_run(run, task)
    meta = {**meta, "hyperparameters": config}
    serving = task.module.serving(model, meta)
    examples = task.module.read_examples(config, pathlib.Path(data))
    return evaluation.evaluate(serving.functions(), serving.describe(), examples, meta)


def run_task(run):
    """The task a run belongs to: its folder's own `task.py`, or the built-in
    one when the task was trained by name (`<name>/runs/<id>`)."""
    run = pathlib.Path(run).resolve()
    folder = run.parents[1]
    if (folder / "task.py").is_file():
        return tasks.locate(folder)
    meta = atomic.read_json(run / "metadata.json", "run's metadata")
    return tasks.locate(meta["task"])


def load_run(run, task=None):
    """`(task, model, config, metadata)` of a run folder of `task` (by
    default, the task it belongs to)."""
    run = pathlib.Path(run).resolve()
    task = task or run_task(run)
    config = settings.Config(
        settings.read_toml(run / "config.toml"),
        run / "config.toml",
        task.folder / "task.py",
    )
    meta = atomic.read_json(run / "metadata.json", "run's metadata")
    model = load_keras_model(run / "model.keras", task.custom_objects())
    return task, model, config, meta


def _pick_run(task, run_id):
    if run_id:
        return runs.find(task.workdir, run_id)
    return runs.best(task.workdir, task.module.PRIMARY_METRIC, task.module.PRIMARY_MODE)


def export_run(
    target, run_id=None, out="saved_models", name=None, version=None, force=False
):
    """Exports a run (the best one unless `run_id`); returns the new path."""
    task = tasks.locate(target)
    run = _pick_run(task, run_id)
    _, model, config, run_meta = load_run(run, task)
    meta = {
        **run_meta,
        "hyperparameters": config,
        "metrics": runs.metrics(run),
        "run": run.name,
    }
    if name is not None:
        path_component(name, "--name")
    serving = task.module.serving(model, meta)
    root = pathlib.Path(out) / (name or task.workdir.name)
    return export.write(serving, meta, root, version, force)
