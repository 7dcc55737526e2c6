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


def train(target, data=None, overrides=None, run_id=None, verbose="auto"):
    """Trains the task at `target`; returns the run folder."""
    import keras

    task = tasks.locate(target)
    overrides = dict(overrides or {})
    if data is not None:
        overrides["data"] = str(pathlib.Path(data).resolve())
    config = task.config(overrides)
    keras.utils.set_random_seed(config["seed"])
    data = task.module.read_data(config, task.folder)  # errors before any run
    run = runs.create(task.workdir, config, run_id)
    settings.write(config, run / "config.toml")
    model = task.module.build_model(config, data)
    train_ds, validation_ds = task.module.datasets(config, data)
    history = training.fit(
        model,
        train_ds,
        validation_ds,
        config,
        run,
        task.module.MONITOR,
        task.module.MONITOR_MODE,
        verbose,
    )
    model.save(run / "model.keras")
    atomic.write_json(run / "history.json", history)
    meta = {"task": task.kind, **task.module.metadata(config, data, model)}
    atomic.write_json(run / "metadata.json", meta)
    validation = task.module.evaluate(
        task.module.keras_predictor(model), data.validation, data.labels
    )
    task.module.evaluation_report(validation, run)
    atomic.write_json(
        run / "metrics.json",
        {
            **validation,
            "split": "validation",
            "epochs_trained": len(history["loss"]),
            "train_examples": len(data.train),
            "skipped_lines": data.train.skipped,
        },
    )
    return run


def _labels(meta):
    from rnnkit.templates.labels import LabelSet

    return LabelSet(meta["labels"])


def evaluate(target, data, run_id=None):
    """Metrics on the labelled `data` of a SavedModel, a run or a task's best
    run."""
    path = pathlib.Path(target)
    if (path / "saved_model.pb").is_file() or export.versions(path):
        signature, meta = export.load(path)
        module = tasks.built_in(meta["task"])
        predict = module.saved_model_predictor(signature)
        config = meta["hyperparameters"]
    else:
        run = path if (path / "model.keras").is_file() else _pick_run(target, run_id)
        run = run.resolve()
        meta = json.loads((run / "metadata.json").read_text())
        module = _run_module(run, meta)
        config = settings.read_toml(run / "config.toml")
        predict = module.keras_predictor(load_keras_model(run / "model.keras"))
    examples = module.read_labelled(config, data)
    return module.evaluate(predict, examples, _labels(meta))


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
    return runs.best(task.workdir, task.module.PRIMARY_METRIC)


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
    endpoint, signature = task.module.serving(model, meta)
    root = pathlib.Path(out) / (name or task.workdir.name)
    return export.write(
        model,
        endpoint,
        signature,
        meta,
        root,
        version,
        force,
        task.module.verification_requests(config),
    )


def predict(saved_model, texts, as_json=False):
    """One result per text: a printable line, or a dict with `as_json`."""
    signature, meta = export.load(saved_model)
    module = tasks.built_in(meta["task"])
    outputs = {k: v.numpy() for k, v in signature(**module.request(texts)).items()}
    return [
        module.format_prediction(text, outputs, i, meta, as_json)
        for i, text in enumerate(texts)
    ]


def info(saved_model):
    """What an export is: task, signature, labels, settings and metrics."""
    signature, meta = export.load(saved_model)
    _, inputs = signature.structured_input_signature
    describe = lambda spec: f"{spec.dtype.name} {spec.shape.as_list()}"  # noqa: E731
    return {
        "path": str(export.resolve(saved_model)),
        "task": meta["task"],
        "rnnkit_version": meta["rnnkit_version"],
        "signature": {
            "serving_default": {
                "inputs": {k: describe(v) for k, v in inputs.items()},
                "outputs": {
                    k: describe(v) for k, v in signature.structured_outputs.items()
                },
            }
        },
        **{k: meta[k] for k in ("labels", "hyperparameters", "metrics") if k in meta},
    }
