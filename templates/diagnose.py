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
import pathlib

import keras
import numpy as np
import tensorflow as tf

from rnnkit.layers import CELL_TYPES, GRUCell, LSTMCell, diagnostics, get_layer
from rnnkit.templates import runs, tasks, workflow
from rnnkit.templates.errors import RnnkitError

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


def recurrent_inputs(task, model, texts):
    """`(layer, tokens, vectors)`: the first recurrent layer of the task's
    model and what it reads for `texts` (the task's `recurrent_inputs`)."""
    if not hasattr(task.module, "recurrent_inputs"):
        raise RnnkitError(
            f"{task.folder / 'task.py'}: no `recurrent_inputs(model, texts)`, "
            "which diagnose needs to find the first recurrent layer's inputs"
        )
    return task.module.recurrent_inputs(model, texts)


def probe_texts(task, config):
    """Texts of the task's own data (its validation data, if it has any)."""
    key = "validation_data" if config.get("validation_data") else "data"
    examples = task.module.read_examples(config, task.folder / config[key])
    return examples.texts[: 8 * PROBE_BATCH]


def unpadded(tokens, rows=8):
    """`(row indices, T)`: the longest T that at least `rows` rows (or all
    of them) reach, so no lag is a padded step."""
    lengths = np.array([len(t) for t in tokens])
    keep = min(rows, len(lengths))
    length = int(np.sort(lengths)[::-1][keep - 1])
    if length < 2:
        raise RnnkitError("the task's validation texts are shorter than 2 tokens")
    return np.nonzero(lengths >= length)[0][:PROBE_BATCH], length


def model_norms(task, model, texts, seed):
    """Norms by lag of the model's first recurrent layer on `texts`."""
    layer, tokens, vectors = recurrent_inputs(task, model, texts)
    rows, length = unpadded(tokens)
    inputs = tf.gather(vectors, rows)[:, :length]
    return diagnostics.state_gradient_norms(layer.cell, inputs, seed=seed)


def run_gradients(run, seed):
    """The run's model at initialisation (rebuilt from its config) and as
    trained."""
    task, trained, config, meta = workflow.load_run(run)
    keras.utils.set_random_seed(config["seed"])
    data = task.module.read_data(config, task.folder)
    init = task.module.build_model(config, data)
    texts = probe_texts(task, config)
    kind = config["cell"]
    return GradientReport(
        f"{meta['task']} run {pathlib.Path(run).resolve().name}",
        {kind: model_norms(task, init, texts, seed)},
        {kind: model_norms(task, trained, texts, seed)},
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
        texts = probe_texts(task, config)
        train_ds, _ = task.module.datasets(config, data)
        model = task.module.build_model(config, data)
        init[kind] = model_norms(task, model, texts, seed)
        model.fit(train_ds.repeat().take(steps), epochs=1, shuffle=False, verbose=0)
        trained[kind] = model_norms(task, model, texts, seed)
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
    if runs.is_run(target):
        return run_gradients(pathlib.Path(target), seed)
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
    if runs.is_run(target):
        return pathlib.Path(target)
    task = tasks.locate(target)
    return runs.best(task.workdir, task.module.PRIMARY_METRIC, task.module.PRIMARY_MODE)


def gates(target, text):
    """`(cell kind, tokens, {panel: (T, units) array}, run folder)` for
    `text` read by the first recurrent layer of a run (or a task's best)."""
    run = pick_run(target)
    task, model, _, _ = workflow.load_run(run)
    layer, tokens, vectors = recurrent_inputs(task, model, [text])
    length = len(tokens[0])
    if length == 0:
        raise RnnkitError(f"{text!r}: no tokens once tokenised")
    x = vectors[:, :length]
    # From x_0: a stateful layer's carried state is not this text's.
    readout = layer.gate_activations(x, initial_state=layer.get_initial_state(1))
    kind = cell_kind(layer.cell)
    panels = {name: np.asarray(readout[name])[0] for name in GATE_PANELS[kind]}
    return kind, tokens[0][:length], panels, run
