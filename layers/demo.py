"""`rnnkit demo layers`: the layers in one minute.

1. Parity: each rnnkit layer, given a Keras built-in's weights, gives its
   numbers.
2. Memory: each cell type learns to recall the first symbol of a sequence
   after `timesteps` steps of noise, so the gradient has to flow back
   through the whole sequence. The same data, seed and budget for each cell
   make it a fair comparison; the outcome is measured, not assumed.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from rnnkit.layers import CELL_TYPES, get_layer  # noqa: E402

KERAS_LAYERS = {
    "rnn": keras.layers.SimpleRNN,
    "gru": keras.layers.GRU,
    "lstm": keras.layers.LSTM,
}
SYMBOLS = 4  # the first step holds one of these; the model must recall it


def parity(seed):
    """Largest output difference to `keras.layers` with the same weights."""
    x = np.random.default_rng(seed).normal(size=(4, 12, 6)).astype("float32")
    gaps = {}
    for kind in CELL_TYPES:
        theirs = KERAS_LAYERS[kind](8, return_sequences=True)
        ours = get_layer(kind, 8, return_sequences=True)
        expected = theirs(x)
        ours.build(x.shape)
        ours.set_weights(theirs.get_weights())
        gaps[kind] = float(np.max(np.abs(np.asarray(ours(x)) - np.asarray(expected))))
    return gaps


def memory_task(samples, timesteps, seed):
    """One-hot sequences whose label is the symbol at the first step."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, SYMBOLS, size=(samples, timesteps))
    return np.eye(SYMBOLS, dtype="float32")[symbols], symbols[:, 0]


def train(kind, data, epochs, seed):
    keras.utils.set_random_seed(seed)
    (x, y), (x_val, y_val) = data
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            get_layer(kind, 32),
            keras.layers.Dense(SYMBOLS, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-2, clipnorm=1.0),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_val, y_val, verbose=0)
    return accuracy, model.count_params(), seconds


def run_demo(timesteps=30, epochs=15, seed=0):
    print("1. Parity with keras.layers (same weights, max |difference|):")
    for kind, gap in parity(seed).items():
        print(f"   {kind:4} {gap:.1e}")
    data = (
        memory_task(2048, timesteps, seed),
        memory_task(512, timesteps, seed + 1),
    )
    print(
        f"\n2. Recall the first of {timesteps} symbols ({epochs} epochs, "
        f"chance = {1 / SYMBOLS:.0%}):"
    )
    print("   cell  val. accuracy  parameters  training time")
    results = {}
    for kind in CELL_TYPES:
        accuracy, params, seconds = train(kind, data, epochs, seed)
        results[kind] = accuracy
        print(f"   {kind:4}  {accuracy:13.1%}  {params:10,}  {seconds:12.1f}s")
    best = max(results, key=results.get)
    print(
        f"\nBest here: {best}. Which cell wins depends on the task, its length "
        "and the budget: try both GRU and LSTM on yours and compare."
    )
    return results
