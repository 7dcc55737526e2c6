"""The user's day, one function per CLI command: train, evaluate, export,
predict and info. Each works on any task through the task module's
functions (see `templates/classification/task.py`)."""

import json
import pathlib
import zipfile

from rnnkit.templates import atomic, export, runs, tasks, training
from rnnkit.templates import config as settings
from rnnkit.templates.errors import DataError, RnnkitError


def load_keras_model(path):
    """A `.keras` file, with a clear error for anything else; never unsafe."""
    import keras

    import rnnkit.layers  # noqa: F401  (registers the rnnkit classes)

    path = pathlib.Path(path)
    if not path.is_file():
        raise RnnkitError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: corrupt or not a .keras archive")
    try:
        return keras.models.load_model(path)  # safe_mode: no lambdas, ever
    except (zipfile.BadZipFile, OSError, KeyError, EOFError) as error:
        raise DataError(f"{path}: corrupt or not a .keras archive ({error})") from None
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
):
    """Trains the task at `target`; returns the run folder.

    Runs go to `<task>/runs/` unless `runs_dir` says otherwise; `callbacks`
    join the training's own (the comparison report times epochs with one).
    `training_seed` seeds the weights, dropout and shuffling in place of the
    config's `seed`, which still draws the validation split: the comparison
    report trains with several seeds on one split.
    """
    import keras

    task = tasks.locate(target)
    overrides = dict(overrides or {})
    if data is not None:
        overrides["data"] = str(pathlib.Path(data).resolve())
    config = task.config(overrides)
    keras.utils.set_random_seed(config["seed"])
    data = task.module.read_data(config, task.folder)  # errors before any run
    run = runs.create(runs_dir or task.workdir / runs.RUNS, config, run_id)
    settings.write(config, run / "config.toml")
    seeded = config
    if training_seed is not None:
        keras.utils.set_random_seed(training_seed)
        seeded = {**config, "seed": training_seed}
    model = task.module.build_model(config, data)
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
        [*getattr(task.module, "training_callbacks", lambda c: [])(config), *callbacks],
    )
    extra = {} if training_seed is None else {"training_seed": training_seed}
    return save_run(task, config, data, model, history, run, extra)


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
    validation = task.module.validate(model, config, data, meta)
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
    run."""
    path = pathlib.Path(target)
    if (path / "saved_model.pb").is_file() or export.versions(path):
        signatures, meta = export.load(path)
        module = tasks.built_in(meta["task"])
        scorer = module.saved_model_scorer(signatures, meta)
        config = meta["hyperparameters"]
    else:
        run = path if (path / "model.keras").is_file() else _pick_run(target, run_id)
        run = run.resolve()
        meta = json.loads((run / "metadata.json").read_text())
        module = _run_module(run, meta)
        config = settings.read_toml(run / "config.toml")
        scorer = module.keras_scorer(load_keras_model(run / "model.keras"), meta)
    return module.evaluate_file(scorer, config, data, meta)


def _run_module(run, meta):
    """The code of the task a run belongs to: its folder's own `task.py`, or
    the built-in one when the task was trained by name."""
    folder = run.resolve().parents[1]
    if (folder / "task.py").is_file():
        return tasks.locate(folder).module
    return tasks.built_in(meta["task"])


def _pick_run(target, run_id):
    task = tasks.locate(target)
    if run_id:
        return runs.find(task.workdir, run_id)
    return runs.best(task.workdir, task.module.PRIMARY_METRIC, task.module.PRIMARY_MODE)


def export_run(
    target, run_id=None, out="saved_models", name=None, version=None, force=False
):
    """Exports a run (the best one unless `run_id`); returns the new path."""
    task = tasks.locate(target)
    run = _pick_run(target, run_id)
    config = settings.read_toml(run / "config.toml")
    meta = {
        **json.loads((run / "metadata.json").read_text()),
        "hyperparameters": config,
        "metrics": runs.metrics(run),
        "run": run.name,
    }
    model = load_keras_model(run / "model.keras")
    endpoints, tracked = task.module.serving(model, meta)
    root = pathlib.Path(out) / (name or task.workdir.name)
    return export.write(
        endpoints,
        tracked,
        meta,
        root,
        version,
        force,
        task.module.verification_requests(config),
    )


def predict(saved_model, texts, as_json=False, options=None):
    """One result per text: a printable line, or a dict with `as_json`.

    `options` are the task's request options (generation: max_length,
    temperature, top_k, top_p, seed, greedy)."""
    signatures, meta = export.load(saved_model)
    module = tasks.built_in(meta["task"])
    name, inputs = module.request(texts, options or {}, meta)
    outputs = {k: v.numpy() for k, v in signatures[name](**inputs).items()}
    return [
        module.format_prediction(text, outputs, i, meta, as_json)
        for i, text in enumerate(texts)
    ]


def _describe(signature):
    def spec(tensor_spec):
        return f"{tensor_spec.dtype.name} {tensor_spec.shape.as_list()}"

    _, inputs = signature.structured_input_signature
    return {
        "inputs": {k: spec(v) for k, v in inputs.items()},
        "outputs": {k: spec(v) for k, v in signature.structured_outputs.items()},
    }


def info(saved_model):
    """What an export is: task, signature, labels, settings and metrics."""
    signatures, meta = export.load(saved_model)
    return {
        "path": str(export.resolve(saved_model)),
        "task": meta["task"],
        "rnnkit_version": meta["rnnkit_version"],
        "signatures": {name: _describe(f) for name, f in signatures.items()},
        **{
            k: meta[k]
            for k in (
                "labels",
                "vocabulary_size",
                "tokenization",
                "hyperparameters",
                "metrics",
            )
            if k in meta
        },
    }


def plot_attention(saved_model, text, path):
    """Translates `text` and saves its attention weights as a PNG."""
    import tensorflow as tf

    from rnnkit.templates import metrics

    signatures, meta = export.load(saved_model)
    if "attention" not in signatures:
        raise RnnkitError(f"{saved_model}: a {meta['task']} model has no attention")
    outputs = signatures["attention"](text=tf.constant([text], dtype=tf.string))
    decoded = {k: v.numpy()[0] for k, v in outputs.items()}
    metrics.plot_attention(
        decoded["attention"],
        [t.decode() for t in decoded["source_tokens"]],
        [t.decode() for t in decoded["target_tokens"]],
        path,
    )
    return decoded["translation"].decode()
