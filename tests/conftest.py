import os

# Quiet TensorFlow's start-up chatter; must be set before it is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from rnnkit import layers as rnnkit_layers  # noqa: E402
from rnnkit.layers import batch_halves, cpu  # noqa: E402

KERAS_LAYERS = {
    "rnn": keras.layers.SimpleRNN,
    "gru": keras.layers.GRU,
    "lstm": keras.layers.LSTM,
}
KERAS_CELLS = {
    "rnn": keras.layers.SimpleRNNCell,
    "gru": keras.layers.GRUCell,
    "lstm": keras.layers.LSTMCell,
}
# Every variant whose weights and numbers must match Keras.
VARIANTS = [
    ("rnn", {}),
    ("gru", {}),
    ("gru", {"reset_after": False}),
    ("lstm", {}),
]
VARIANT_IDS = ["rnn", "gru", "gru-reset-before", "lstm"]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture(autouse=True)
def _one_kind_of_machine(monkeypatch):
    """The layers' fast paths depend on the machine: its cores, TensorFlow's
    thread settings and the CPU's instructions (`rnnkit.layers.cpu`). Every
    test sees the same one, two cores, TensorFlow's default thread pools
    and AVX2 without AVX-512, unless it sets another itself."""
    monkeypatch.setattr(batch_halves, "_cores", lambda: 2)
    monkeypatch.setattr(cpu, "whole_steps_when_sharing", lambda: False)
    for variable in ("TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS"):
        monkeypatch.delenv(variable, raising=False)


def random_inputs(batch=3, time=6, features=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, time, features)).astype("float32")


def random_weights(layer, seed=1, scale=0.5):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=w.shape).astype("float32") * scale for w in layer.weights]


def keras_and_rnnkit(kind, units=4, inputs_shape=(3, 6, 5), **kwargs):
    """A Keras built-in and the rnnkit layer, built, with the same random
    (not initial) weights."""
    theirs = KERAS_LAYERS[kind](units, **kwargs)
    ours = rnnkit_layers.get_layer(kind, units, **kwargs)
    theirs.build(inputs_shape)
    ours.build(inputs_shape)
    weights = random_weights(theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return theirs, ours


def as_list(outputs):
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]
