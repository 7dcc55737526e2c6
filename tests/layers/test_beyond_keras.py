"""The additions beyond Keras: a learned x_0, layer normalisation and gate
readout. Off by default, they must change nothing."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import random_inputs

from rnnkit import layers as rnnkit_layers

KINDS = ["rnn", "gru", "lstm"]
STATE_NAMES = {
    "rnn": ["initial_h"],
    "gru": ["initial_h"],
    "lstm": ["initial_h", "initial_c"],
}


@pytest.mark.parametrize("kind", KINDS)
def test_learned_initial_state_adds_trainable_weights_last(kind):
    layer = rnnkit_layers.get_layer(kind, 4, initial_state_mode="learned")
    layer.build((3, 6, 5))
    names = [w.name for w in layer.trainable_weights]
    assert names == ["kernel", "recurrent_kernel", "bias", *STATE_NAMES[kind]]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_learned_initial_state_gets_gradients_and_is_the_x0(kind, training):
    layer = rnnkit_layers.get_layer(
        kind, 4, initial_state_mode="learned", return_state=True
    )
    x = random_inputs()
    layer.build(x.shape)
    for i, variable in enumerate(layer.cell.learned_states):
        variable.assign(np.full(4, 0.3 * (i + 1), "float32"))
    # A fully masked row keeps x_0 as its final state.
    mask = np.ones((3, 6), bool)
    mask[1] = False
    with tf.GradientTape() as tape:
        output, *states = layer(x, mask=tf.constant(mask), training=training)
        loss = tf.reduce_sum(output) + sum(tf.reduce_sum(s) for s in states)
    for i, state in enumerate(states):
        np.testing.assert_allclose(state[1], np.full(4, 0.3 * (i + 1)), atol=1e-6)
    gradients = tape.gradient(loss, layer.cell.learned_states)
    assert all(float(tf.reduce_max(tf.abs(g))) > 1e-4 for g in gradients)


def test_learned_initial_state_restores_on_reset_and_in_keras_rnn():
    layer = rnnkit_layers.GRU(4, initial_state_mode="learned", stateful=True)
    x = random_inputs()
    layer.build(x.shape)
    layer.cell.learned_states[0].assign(np.linspace(-1, 1, 4).astype("float32"))
    layer.reset_state()
    np.testing.assert_allclose(layer.states[0], np.tile(np.linspace(-1, 1, 4), (3, 1)))
    first = np.asarray(layer(x))
    layer.reset_state()
    np.testing.assert_allclose(layer(x), first, atol=1e-6)
    # The x_0 lives in the cell, so keras.layers.RNN uses it too.
    wrapped = keras.layers.RNN(layer.cell)
    np.testing.assert_allclose(wrapped(x), first, atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_layer_norm_weights(kind):
    layer = rnnkit_layers.get_layer(kind, 4, layer_norm=True)
    layer.build((3, 6, 5))
    extra = [w.name for w in layer.weights][3:]
    expected = ["input_norm_gamma", "recurrent_norm_gamma"]
    if kind == "lstm":
        expected += ["cell_norm_gamma", "cell_norm_beta"]
    assert extra == expected


def outputs_with_kernels_scaled(layer, x, scales):
    kernel, recurrent_kernel = layer.cell.kernel, layer.cell.recurrent_kernel
    original = [kernel.numpy(), recurrent_kernel.numpy()]
    outputs = []
    for scale in scales:
        kernel.assign(original[0] * scale)
        recurrent_kernel.assign(original[1] * scale)
        outputs.append(np.asarray(layer(x)))
    return outputs


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_layer_norm_makes_gates_invariant_to_kernel_scale(kind):
    # Layer normalisation removes the scale of W_xu u and W_xx x (once their
    # variance dwarfs the epsilon); without it, scaling the kernels changes
    # everything.
    x = random_inputs(features=8)
    normed = rnnkit_layers.get_layer(kind, 8, layer_norm=True, return_sequences=True)
    normed.build(x.shape)
    ten, hundred = outputs_with_kernels_scaled(normed, x, [10.0, 100.0])
    assert np.max(np.abs(ten - hundred)) < 1e-3
    plain = rnnkit_layers.get_layer(kind, 8, return_sequences=True)
    plain.build(x.shape)
    one, ten = outputs_with_kernels_scaled(plain, x, [1.0, 10.0])
    assert np.max(np.abs(one - ten)) > 0.1


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_layer_norm_trains(kind):
    keras.utils.set_random_seed(0)
    x = random_inputs(64, 6, 5)
    y = x[:, :, :1].sum(axis=1)
    model = keras.Sequential(
        [
            keras.Input((6, 5)),
            rnnkit_layers.get_layer(kind, 8, layer_norm=True),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.02), "mse")
    history = model.fit(x, y, epochs=15, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]


@pytest.mark.parametrize("kind", KINDS)
def test_gate_readout_names_shapes_and_ranges(kind):
    layer = rnnkit_layers.get_layer(kind, 4, return_sequences=True)
    x = random_inputs()
    gates = layer.gate_activations(x)
    assert list(gates) == list(layer.cell.readout_names)
    assert all(tuple(g.shape) == (3, 6, 4) for g in gates.values())
    for name in ("input", "forget", "output", "update", "reset"):
        if name in gates:
            values = np.asarray(gates[name])
            assert values.min() >= 0.0 and values.max() <= 1.0
    if kind == "rnn":
        np.testing.assert_allclose(gates["state"], layer(x), atol=1e-6)


def test_gate_readout_does_not_advance_stateful_states():
    layer = rnnkit_layers.LSTM(4, stateful=True)
    x = random_inputs()
    layer(x)
    before = [np.asarray(s) for s in layer.states]
    layer.gate_activations(x)
    for variable, value in zip(layer.states, before):
        np.testing.assert_array_equal(variable, value)


@pytest.mark.parametrize("kind", KINDS)
def test_call_with_states_then_stepping_the_cell_continues_the_sequence(kind):
    # Encoding a prefix with the layer, then feeding the cell one step at a
    # time, gives the same states as running the whole sequence at once.
    layer = rnnkit_layers.get_layer(kind, 4, return_sequences=True, stateful=False)
    x = random_inputs()
    full, full_states = layer.call_with_states(x)
    prefix, states = layer.call_with_states(x[:, :4])
    np.testing.assert_allclose(prefix, np.asarray(full)[:, :4], atol=1e-6)
    for t in range(4, 6):
        output, states = layer.cell(x[:, t], states)
        np.testing.assert_allclose(output, np.asarray(full)[:, t], atol=1e-5)
    for a, b in zip(states, full_states):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_call_with_states_masks_right_padding():
    layer = rnnkit_layers.GRU(4, return_sequences=True)
    x = random_inputs()
    mask = np.ones((3, 6), bool)
    mask[0, 3:] = False
    outputs, states = layer.call_with_states(x, mask=mask)
    short, short_states = layer.call_with_states(x[:1, :3])
    # The last output of a padded row is its output at its last real step.
    np.testing.assert_allclose(
        np.asarray(outputs)[0, -1], np.asarray(short)[0, -1], atol=1e-6
    )
    np.testing.assert_allclose(
        np.asarray(states[0])[0], np.asarray(short_states[0])[0], atol=1e-6
    )
