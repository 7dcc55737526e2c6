"""`rnnkit diagnose`: gradient flow through time and gate activations, for a
synthetic long-range task, a task folder or a trained run.

The numerics live in `rnnkit.layers.diagnostics`; this module finds the
models, their recurrent layers and their inputs, trains briefly where asked,
and hands the numbers to `rnnkit.templates.diagnose_plots`.

Gradients are always those of the same loss, `L = Σ_batch r · h_T` with a
fixed random unit vector `r` (see `diagnostics.state_gradient_norms`), so the
norms at lag `k` are those of `r^T ∂h_T/∂x_{T-k}` and compare across cells,
models and training. Training itself uses the task's own loss.
"""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf

from rnnkit.layers import CELL_TYPES, GRUCell, LSTMCell, diagnostics, get_layer
from rnnkit.layers.recurrent import Recurrent
from rnnkit.templates import config as settings
from rnnkit.templates import runs, seq2seq, tasks, workflow
from rnnkit.templates.errors import RnnkitError
from rnnkit.templates.language_model import Vocabulary

PROBE_BATCH = 32  # sequences whose gradient norms are averaged


@dataclasses.dataclass
class GradientReport:
    """Norms by lag (index k: `x_{T-k}`) per cell, at init and trained."""

    title: str
    init: dict
    trained: dict
    exploding: dict = None  # see `exploding_case`

    def decay_rates(self):
        return {
            kind: (
                diagnostics.decay_rate(self.init[kind]),
                diagnostics.decay_rate(self.trained[kind]),
            )
            for kind in self.init
        }


# Synthetic: the adding problem -------------------------------------------------


def adding_model(kind, units, timesteps, clipnorm=1.0, learning_rate=2e-3):
    """`(T, 2)` inputs -> one recurrent layer -> the predicted sum; compiled."""
    model = keras.Sequential(
        [keras.Input((timesteps, 2)), get_layer(kind, units), keras.layers.Dense(1)]
    )
    clip = {"clipnorm": clipnorm} if clipnorm else {}
    model.compile(keras.optimizers.Adam(learning_rate, **clip), "mse")
    return model


def synthetic_gradients(timesteps, units, steps, seed, kinds=CELL_TYPES):
    """Norms by lag for each cell on the adding problem, at initialisation
    and after `steps` Adam steps (batch 64) on it."""
    probe, _ = diagnostics.adding_problem(PROBE_BATCH, timesteps, seed + 1)
    train_x, train_y = diagnostics.adding_problem(64 * steps, timesteps, seed + 2)
    init, trained = {}, {}
    for kind in kinds:
        keras.utils.set_random_seed(seed)
        model = adding_model(kind, units, timesteps)
        cell = model.layers[0].cell
        init[kind] = diagnostics.state_gradient_norms(cell, probe, seed=seed)
        model.fit(train_x, train_y, batch_size=64, epochs=1, verbose=0)
        trained[kind] = diagnostics.state_gradient_norms(cell, probe, seed=seed)
    title = f"adding problem, T={timesteps}, {units} units"
    return GradientReport(title, init, trained)


def exploding_case(timesteps, units, steps, radius, clipnorm, seed):
    """The tanh RNN with `W_xx` rescaled to spectral radius `radius`.

    Returns a dict with `radius`, `norms` (by lag, at that initialisation)
    and, for SGD (learning rate 0.01) on the adding problem from the same
    weights without and with `clipnorm`, each step's batch loss and the norm
    of its weight update (`losses` and `updates`, keyed "no clipping" and
    "clipnorm=<c>"). Keras's `clipnorm` clips each weight's gradient.
    """
    keras.utils.set_random_seed(seed)
    model = adding_model("rnn", units, timesteps)
    cell = model.layers[0].cell
    diagnostics.set_spectral_radius(cell, radius)
    probe, _ = diagnostics.adding_problem(PROBE_BATCH, timesteps, seed + 1)
    start = model.get_weights()
    result = {
        "radius": radius,
        "norms": diagnostics.state_gradient_norms(cell, probe, seed=seed),
    }
    result["updates"], result["losses"] = {}, {}
    x, y = diagnostics.adding_problem(64 * steps, timesteps, seed + 2)
    for name, clip in (("no clipping", None), (f"clipnorm={clipnorm:g}", clipnorm)):
        model.set_weights(start)
        model.compile(keras.optimizers.SGD(0.01, clipnorm=clip), "mse")
        updates, losses = [], []
        for i in range(steps):
            before = model.get_weights()
            batch = slice(64 * i, 64 * (i + 1))
            losses.append(float(model.train_on_batch(x[batch], y[batch])))
            after = model.get_weights()
            updates.append(
                float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in zip(after, before))))
            )
        result["updates"][name], result["losses"][name] = updates, losses
    return result


# Task folders and runs -----------------------------------------------------------


def first_recurrent(model):
    """The first rnnkit recurrent layer of `model`; for a Bidirectional
    wrapper, its forward layer."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            layer = layer.forward_layer
        if isinstance(layer, Recurrent):
            return layer
    raise RnnkitError(
        f"model {model.name!r} has no rnnkit recurrent layer (SimpleRNN, GRU, LSTM)"
    )


def embedded(model, kind, ids):
    """The token ids `(batch, T)` through the model's own embedding: what
    its first recurrent layer reads."""
    names = {"generation": "embedding", "translation": "source_embedding"}
    if kind in names:
        return model.get_layer(names[kind])(ids)
    embedding = next(
        layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)
    )
    return embedding(ids)


def batch_ids(model, kind, x):
    """Token ids of one batch of a task's dataset inputs."""
    if kind == "classification":
        return model.get_layer("vectorizer")(x)  # the model reads strings
    if kind == "translation":
        return x[0]  # (source ids, decoder input ids): the encoder's
    return x


def unpadded(ids, rows=8):
    """`(row indices, T)`: the longest T that at least `rows` rows (or all
    of them) fill without padding, so no lag is a padded step."""
    lengths = np.sum(np.asarray(ids) != 0, axis=1)
    keep = min(rows, len(lengths))
    length = int(np.sort(lengths)[::-1][keep - 1])
    if length < 2:
        raise RnnkitError("the task's validation texts are shorter than 2 tokens")
    return np.nonzero(lengths >= length)[0][:PROBE_BATCH], length


def model_norms(model, kind, x, seed):
    """Norms by lag of the model's first recurrent layer on its own inputs."""
    ids = np.asarray(batch_ids(model, kind, x))
    rows, length = unpadded(ids)
    inputs = embedded(model, kind, ids[rows, :length])
    cell = first_recurrent(model).cell
    return diagnostics.state_gradient_norms(cell, inputs, seed=seed)


def first_batch(dataset):
    return next(iter(dataset))[0]


def run_parts(run):
    """`(task module, data folder, config, metadata)` of a run folder."""
    run = pathlib.Path(run).resolve()
    meta = json.loads((run / "metadata.json").read_text())
    folder = run.parents[1]
    if (folder / "task.py").is_file():
        return tasks.locate(folder).module, folder, meta
    return tasks.built_in(meta["task"]), tasks.TEMPLATES / meta["task"], meta


def run_gradients(run, seed):
    """The run's model at initialisation (rebuilt from its config) and as
    trained."""
    module, folder, meta = run_parts(run)
    config = settings.read_toml(run / "config.toml")
    keras.utils.set_random_seed(config["seed"])
    data = module.read_data(config, folder)
    x = first_batch(module.datasets(config, data)[1])
    init = module.build_model(config, data)
    trained = workflow.load_keras_model(run / "model.keras")
    kind = config["cell"]
    return GradientReport(
        f"{meta['task']} run {run.name}",
        {kind: model_norms(init, meta["task"], x, seed)},
        {kind: model_norms(trained, meta["task"], x, seed)},
    )


def task_gradients(target, steps, seed, kinds=CELL_TYPES):
    """Each cell type in the task's model, at initialisation and after
    `steps` training batches of the task's data."""
    task = tasks.locate(target)
    init, trained = {}, {}
    for kind in kinds:
        config = task.config({"cell": kind})
        keras.utils.set_random_seed(config["seed"])
        data = task.module.read_data(config, task.folder)
        train_ds, validation_ds = task.module.datasets(config, data)
        x = first_batch(validation_ds)
        model = task.module.build_model(config, data)
        init[kind] = model_norms(model, task.kind, x, seed)
        model.fit(train_ds.repeat().take(steps), epochs=1, shuffle=False, verbose=0)
        trained[kind] = model_norms(model, task.kind, x, seed)
    return GradientReport(f"{task.kind} task {task.folder.name}", init, trained)


def gradients(
    target, timesteps, units, steps, seed, radius, clipnorm, kinds=CELL_TYPES
):
    """The `GradientReport` for `rnnkit diagnose gradients`: synthetic with
    no `target`, else of a run folder or a task folder."""
    if target is None:
        report = synthetic_gradients(timesteps, units, steps, seed, kinds)
        report.exploding = exploding_case(
            timesteps, units, min(steps, 100), radius, clipnorm, seed
        )
        return report
    path = pathlib.Path(target)
    if (path / "model.keras").is_file():
        return run_gradients(path, seed)
    return task_gradients(target, steps, seed, kinds)


# Gates -----------------------------------------------------------------------------

GATE_PANELS = {
    "lstm": ("forget", "input", "output"),
    "gru": ("update", "reset"),
    "rnn": ("state",),  # no gates: its state x_t instead
}


def cell_kind(cell):
    if isinstance(cell, LSTMCell):
        return "lstm"
    return "gru" if isinstance(cell, GRUCell) else "rnn"


def pick_run(target):
    """A run folder as given, or the best completed run of a task."""
    path = pathlib.Path(target)
    if (path / "model.keras").is_file():
        return path
    task = tasks.locate(target)
    return runs.best(task.workdir, task.module.PRIMARY_METRIC, task.module.PRIMARY_MODE)


def text_ids(model, module, meta, text):
    """`(ids, tokens)` of `text` as the run's model tokenises it."""
    if meta["task"] == "classification":
        vectorizer = model.get_layer("vectorizer")
        ids = vectorizer(tf.constant([text])).numpy()[0]
        vocabulary = vectorizer.get_vocabulary()
    elif meta["task"] == "generation":
        ids = module.generator(model, meta).token_ids(tf.constant([text]))
        ids = ids.numpy()[0]
        vocabulary = Vocabulary(meta["vocabulary"]).all_tokens()
    else:
        ids = module.translator(model, meta).source_ids(tf.constant([text]))
        ids = ids.numpy()[0]
        source = Vocabulary(meta["source_vocabulary"], seq2seq.SOURCE_SPECIAL)
        vocabulary = source.all_tokens()
    return ids, [vocabulary[i] for i in ids]


def gates(target, text):
    """`(cell kind, tokens, {panel: (T, units) array}, run folder)` for
    `text` read by the first recurrent layer of a run (or a task's best)."""
    run = pick_run(target)
    module, _, meta = run_parts(run)
    model = workflow.load_keras_model(run / "model.keras")
    ids, tokens = text_ids(model, module, meta, text)
    length = int(np.sum(ids != 0))
    if length == 0:
        raise RnnkitError(f"{text!r}: no tokens once tokenised")
    layer = first_recurrent(model)
    x = embedded(model, meta["task"], ids[None, :length])
    # From x_0: a stateful layer's carried state is not this text's.
    readout = layer.gate_activations(x, initial_state=layer.get_initial_state(1))
    kind = cell_kind(layer.cell)
    panels = {name: np.asarray(readout[name])[0] for name in GATE_PANELS[kind]}
    return kind, tokens[:length], panels, run
