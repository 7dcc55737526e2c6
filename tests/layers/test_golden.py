"""Golden numbers: constant weights through the equations by hand, and a
NumPy version of each cell (`reference.py`) on random weights."""

import keras
import numpy as np
import pytest
import reference
from conftest import KERAS_LAYERS, VARIANT_IDS, VARIANTS, random_inputs

from rnnkit import layers as rnnkit_layers

# u_1..u_3 = [.1 .2], [.3 .4], [.5 .6]; every kernel entry 0.5, every
# recurrent entry -0.25, every bias 0.1; two units, which stay equal. For
# SimpleRNN: x_1 = tanh(.1*.5 + .2*.5 + .1) = tanh(.25) = 0.2449187, then
# x_2 = tanh(.45 - 2 * .25 * 0.2449187) = 0.3163092, ...
GOLDEN = {
    "rnn": [0.2449187, 0.3163092, 0.4556799],
    "gru": [0.1236919, 0.2444258, 0.3548898],
    "lstm": [0.0769192, 0.1846578, 0.3055752],
}


def constant_layer(make, kind):
    kwargs = dict(
        kernel_initializer=keras.initializers.Constant(0.5),
        recurrent_initializer=keras.initializers.Constant(-0.25),
        bias_initializer=keras.initializers.Constant(0.1),
        return_sequences=True,
    )
    if kind == "lstm":
        kwargs["unit_forget_bias"] = False
    return make(kind, 2, **kwargs)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_constant_weights_give_the_hand_computed_states(kind, training):
    u = (np.arange(1, 7, dtype="float32") / 10).reshape(1, 3, 2)
    for make in (
        rnnkit_layers.get_layer,
        lambda k, *a, **kw: KERAS_LAYERS[k](*a, **kw),
    ):
        states = np.asarray(constant_layer(make, kind)(u, training=training))
        np.testing.assert_allclose(states[0, :, 0], GOLDEN[kind], atol=1e-6)
        np.testing.assert_allclose(states[0, :, 1], GOLDEN[kind], atol=1e-6)


def numpy_reference(kind, variant, u, weights):
    if kind == "rnn":
        return reference.simple_rnn(u, *weights)
    if kind == "gru":
        return reference.gru(u, *weights, reset_after=variant.get("reset_after", True))
    return reference.lstm(u, *weights)


@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_random_weights_match_the_numpy_equations(kind, variant):
    layer = rnnkit_layers.get_layer(kind, 4, return_sequences=True, **variant)
    u = random_inputs()
    outputs = np.asarray(layer(u))
    expected = numpy_reference(kind, variant, u.astype("float64"), layer.get_weights())
    np.testing.assert_allclose(outputs, expected, atol=1e-5)


def test_learned_initial_state_enters_the_equations():
    layer = rnnkit_layers.SimpleRNN(
        3, return_sequences=True, initial_state_mode="learned"
    )
    u = random_inputs(features=2)
    layer.build(u.shape)
    x0 = np.array([0.5, -1.0, 2.0], "float32")
    layer.cell.learned_states[0].assign(x0)
    kernel, recurrent_kernel, bias, _ = layer.get_weights()
    expected = reference.simple_rnn(
        u, kernel, recurrent_kernel, bias, h0=np.tile(x0, (3, 1))
    )
    np.testing.assert_allclose(np.asarray(layer(u)), expected, atol=1e-5)


def test_layer_normalised_lstm_matches_the_numpy_equations():
    layer = rnnkit_layers.LSTM(4, return_sequences=True, layer_norm=True)
    u = random_inputs()
    layer.build(u.shape)
    rng = np.random.default_rng(3)
    layer.set_weights(
        [rng.normal(size=w.shape).astype("float32") for w in layer.weights]
    )
    kernel, recurrent_kernel, bias, *norms = layer.get_weights()
    expected = reference.lstm(u, kernel, recurrent_kernel, bias, norms=norms)
    np.testing.assert_allclose(np.asarray(layer(u)), expected, atol=1e-5)
