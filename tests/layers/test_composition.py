"""rnnkit cells and layers inside Keras: RNN, Bidirectional, models, BPTT, readout."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    KERAS_CELLS,
    KERAS_LAYERS,
    VARIANT_IDS,
    VARIANTS,
    as_list,
    random_inputs,
    random_weights,
)

from rnnkit import layers as rnnkit_layers
from rnnkit.layers import CELL_TYPES
from rnnkit.layers.bptt import fused_recurrence

ATOL = 1e-5
SHAPE = (3, 6, 5)


def padded_mask(batch=3, time=6):
    """A full row, a right-padded row and a fully masked row."""
    mask = np.ones((batch, time), bool)
    mask[1, time - 2 :] = False
    mask[2, :] = False
    return mask


def built(layer, shape=SHAPE, weights=None):
    layer.build(shape)
    layer.set_weights(random_weights(layer) if weights is None else weights)
    return layer


def assert_all_close(ours, theirs, atol=ATOL):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5)


# keras.layers.RNN around rnnkit cells ---------------------------------------


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_keras_rnn_of_our_cell_equals_our_layer(kind, variant, masked, go_backwards):
    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer = built(rnnkit_layers.get_layer(kind, 4, **options, **variant))
    cell = rnnkit_layers.get_cell(kind, 4, **variant)
    rnn = keras.layers.RNN(cell, **options)
    built(rnn, weights=layer.get_weights())
    assert [w.shape for w in cell.weights] == [w.shape for w in layer.weights]
    x = random_inputs(*SHAPE)
    mask = padded_mask() if masked else None
    expected = as_list(layer(x, mask=mask, training=False))
    assert len(expected) == (3 if kind == "lstm" else 2)
    assert_all_close(as_list(rnn(x, mask=mask, training=False)), expected)


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_keras_rnn_of_our_cell_equals_keras_rnn_of_keras_cell(kind, variant, masked):
    options = dict(return_sequences=True, return_state=True)
    theirs = built(keras.layers.RNN(KERAS_CELLS[kind](4, **variant), **options))
    ours = keras.layers.RNN(rnnkit_layers.get_cell(kind, 4, **variant), **options)
    built(ours, weights=theirs.get_weights())
    x = random_inputs(*SHAPE)
    mask = padded_mask() if masked else None
    assert_all_close(as_list(ours(x, mask=mask)), as_list(theirs(x, mask=mask)))


# keras.layers.Bidirectional around rnnkit layers ----------------------------


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_bidirectional_equals_keras(kind, variant, merge_mode, masked):
    def wrap(layer_class):
        layer = layer_class(4, return_sequences=True, **variant)
        return keras.layers.Bidirectional(layer, merge_mode=merge_mode)

    theirs = built(wrap(KERAS_LAYERS[kind]))
    ours = built(wrap(lambda *a, **k: rnnkit_layers.get_layer(kind, *a, **k)))
    ours.set_weights(theirs.get_weights())
    # Bidirectional forces zero_output_for_mask = return_sequences.
    for sublayer in (ours.forward_layer, ours.backward_layer):
        assert sublayer.zero_output_for_mask is True
    assert ours.backward_layer.go_backwards is True
    x = random_inputs(*SHAPE)
    mask = padded_mask() if masked else None
    expected = np.asarray(theirs(x, mask=mask))
    actual = np.asarray(ours(x, mask=mask))
    np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=1e-5)
    if masked:  # masked steps output zeros in both directions
        assert not np.any(actual[~padded_mask()])


# rnnkit.layers.Bidirectional ------------------------------------------------

# Rows enough that rnnkit's gated layers run gate by gate on their own
# (rows * gates * units >= bptt.PER_GATE_MIN_SIZE), which the wrapper changes.
WIDE_SHAPE = (64, 6, 5)
WIDE_UNITS = 32


def bidirectional_pair(kind, variant, wrapper, shape=WIDE_SHAPE):
    """Keras's bidirectional layer of `kind` and `wrapper` around rnnkit's,
    with the same weights."""
    options = dict(return_sequences=True, **variant)
    theirs = keras.layers.Bidirectional(KERAS_LAYERS[kind](WIDE_UNITS, **options))
    built(theirs, shape)
    ours = wrapper(rnnkit_layers.get_layer(kind, WIDE_UNITS, **options))
    built(ours, shape, weights=theirs.get_weights())
    return ours, theirs


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("kind,variant", VARIANTS, ids=VARIANT_IDS)
def test_rnnkit_bidirectional_equals_keras_in_inference_and_training(
    kind, variant, masked
):
    ours, theirs = bidirectional_pair(kind, variant, rnnkit_layers.Bidirectional)
    x = tf.constant(random_inputs(*WIDE_SHAPE))
    mask = tf.constant(np.tile(padded_mask(), (22, 1))[:64]) if masked else None
    np.testing.assert_allclose(
        np.asarray(ours(x, mask=mask)), np.asarray(theirs(x, mask=mask)), atol=ATOL
    )

    def gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, mask=mask, training=True)
            loss = tf.reduce_sum(y * y)
        return [np.asarray(g) for g in tape.gradient(loss, [x, *layer.weights])]

    assert_all_close(gradients(ours), gradients(theirs), atol=1e-4)


def test_rnnkit_cells_know_when_a_bidirectional_wrapper_runs_them_side_by_side():
    ours = rnnkit_layers.Bidirectional(rnnkit_layers.LSTM(4, return_sequences=True))
    assert ours.forward_layer.cell.shares_cores
    assert ours.backward_layer.cell.shares_cores
    assert ours.backward_layer.go_backwards
    # Keras's wrapper names its two directions; that is how they know.
    under_keras = keras.layers.Bidirectional(rnnkit_layers.SimpleRNN(4))
    assert under_keras.forward_layer.cell.shares_cores
    assert under_keras.backward_layer.cell.shares_cores
    assert not rnnkit_layers.LSTM(4).cell.shares_cores
    assert rnnkit_layers.GRU(4, name="forward_gru_7").cell.shares_cores
    # Keras's own layers run under the wrapper as under Keras's wrapper.
    theirs = built(keras.layers.Bidirectional(keras.layers.LSTM(4)))
    keras_inside = rnnkit_layers.Bidirectional(keras.layers.LSTM(4))
    built(keras_inside, weights=theirs.get_weights())
    x = random_inputs(*SHAPE)
    np.testing.assert_array_equal(np.asarray(keras_inside(x)), np.asarray(theirs(x)))


def test_rnnkit_bidirectional_takes_its_own_backward_layer():
    forward = rnnkit_layers.GRU(4, return_sequences=True)
    backward = rnnkit_layers.GRU(4, return_sequences=True, go_backwards=True)
    layer = rnnkit_layers.Bidirectional(
        forward, backward_layer=backward, merge_mode="sum"
    )
    assert layer.backward_layer is backward and backward.cell.shares_cores
    assert layer(random_inputs(*SHAPE)).shape == (3, 6, 4)


# Training in keras models ---------------------------------------------------


def stack(kind):
    return [
        rnnkit_layers.get_layer(kind, 8, return_sequences=True),
        rnnkit_layers.get_layer(kind, 6),
        keras.layers.Dense(1),
    ]


def fit_and_compare(model, x, y, epochs=25):
    model.compile(keras.optimizers.Adam(0.02), "mse")
    initial = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=16, epochs=epochs, verbose=0)
    final = model.evaluate(x, y, verbose=0)
    assert np.isfinite(final)
    assert final < 0.7 * initial, (initial, final)


@pytest.mark.parametrize("kind", CELL_TYPES)
def test_stacked_layers_learn_a_running_sum(kind):
    x = random_inputs(64, 6, 2, seed=4)
    y = x[:, :, 0].sum(axis=1, keepdims=True) / np.sqrt(6)  # zero mean, unit var
    model = keras.Sequential([keras.Input((6, 2)), *stack(kind)])
    fit_and_compare(model, x, y)


@pytest.mark.parametrize("kind", CELL_TYPES)
def test_stacked_layers_learn_from_masked_embeddings(kind):
    rng = np.random.default_rng(5)
    tokens = rng.integers(1, 10, size=(64, 6))
    lengths = rng.integers(1, 7, size=64)
    tokens[np.arange(6)[None, :] >= lengths[:, None]] = 0
    y = tokens.sum(axis=1, keepdims=True).astype("float32")
    y = (y - y.mean()) / y.std()
    embedding = keras.layers.Embedding(10, 4, mask_zero=True)
    model = keras.Sequential([keras.Input((None,), dtype="int32"), embedding])
    for layer in stack(kind):
        model.add(layer)
    fit_and_compare(model, tokens, y)
    # The mask reaches both recurrent layers: more padding changes nothing.
    longer = np.concatenate([tokens[:4], np.zeros((4, 3), tokens.dtype)], axis=1)
    np.testing.assert_allclose(
        model.predict(longer, verbose=0),
        model.predict(tokens[:4], verbose=0),
        atol=ATOL,
    )


# Hand-written BPTT (training=True) against autodiff (training=False) ---------


def outputs_and_gradients(layer, x, mask, training):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, mask=mask, training=training)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        # Weight every element differently, so that no gradient hides in a sum.
        loss = sum(tf.reduce_sum(tf.sin(3.0 * o + 1.0)) for o in outputs)
    gradients = tape.gradient(loss, [x, *layer.trainable_weights])
    assert all(g is not None for g in gradients)
    return as_list(outputs) + as_list(gradients)


GRADIENT_OPTIONS = [
    {},
    {"go_backwards": True},
    {"return_sequences": True, "return_state": True},
    {"return_sequences": True, "go_backwards": True, "initial_state_mode": "learned"},
]


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize(
    "options", GRADIENT_OPTIONS, ids=lambda o: "-".join(o) or "plain"
)
@pytest.mark.parametrize("kind", CELL_TYPES)
def test_fused_bptt_gradients_equal_autodiff(kind, options, masked):
    layer = built(rnnkit_layers.get_layer(kind, 4, **options))
    assert layer.cell.fusable()  # training=True takes the hand-written BPTT
    x = random_inputs(*SHAPE)
    mask = tf.constant(padded_mask()) if masked else None
    assert_all_close(
        outputs_and_gradients(layer, x, mask, training=True),
        outputs_and_gradients(layer, x, mask, training=False),
    )


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("kind", CELL_TYPES)
def test_fused_bptt_gradients_equal_autodiff_over_four_chunks(kind, go_backwards):
    shape = (2, 70, 3)
    options = dict(return_sequences=True, go_backwards=go_backwards)
    layer = built(rnnkit_layers.get_layer(kind, 3, **options), shape)
    x = random_inputs(*shape) * 0.5
    mask = np.ones(shape[:2], bool)
    mask[1, 40:] = False  # the padding starts inside the third chunk
    mask = tf.constant(mask)
    assert_all_close(
        outputs_and_gradients(layer, x, mask, training=True),
        outputs_and_gradients(layer, x, mask, training=False),
    )


def test_projecting_inside_the_loop_is_refused_in_training():
    # The hand-written BPTT differentiates through projected inputs only; a
    # projection inside the loop would have no gradient, so it is refused.
    layer = built(rnnkit_layers.get_layer("gru", 4))
    x = tf.transpose(random_inputs(*SHAPE), (1, 0, 2))
    states = [tf.zeros((SHAPE[0], 4))]
    with pytest.raises(
        ValueError, match="Projecting inside the loop is for inference only"
    ):
        fused_recurrence(layer.cell, x, states, training=True, project=lambda u: u)


# gate_activations -----------------------------------------------------------


def with_outputs(kind, **options):
    layer = built(rnnkit_layers.get_layer(kind, 4, return_sequences=True, **options))
    x = random_inputs(*SHAPE)
    return layer, x, np.asarray(layer(x))


def readout(layer, x, mask=None):
    result = layer.gate_activations(x, mask=mask)
    assert list(result) == list(layer.cell.readout_names)
    for value in result.values():
        assert tuple(value.shape) == (*x.shape[:2], 4)
    return {name: np.asarray(value) for name, value in result.items()}


def test_lstm_readout_rebuilds_the_outputs():
    layer, x, outputs = with_outputs("lstm")
    gates = readout(layer, x)
    h = gates["output"] * np.tanh(gates["cell"])
    np.testing.assert_allclose(h, outputs, atol=ATOL)
    c_prev = np.concatenate([np.zeros_like(gates["cell"][:, :1]), gates["cell"]], 1)
    c = gates["forget"] * c_prev[:, :-1] + gates["input"] * gates["candidate"]
    np.testing.assert_allclose(c, gates["cell"], atol=ATOL)


@pytest.mark.parametrize(
    "variant", [{}, {"reset_after": False}], ids=["after", "before"]
)
def test_gru_readout_rebuilds_the_outputs(variant):
    layer, x, outputs = with_outputs("gru", **variant)
    gates = readout(layer, x)
    h_prev = np.concatenate([np.zeros_like(outputs[:, :1]), outputs[:, :-1]], axis=1)
    z = gates["update"]
    np.testing.assert_allclose(
        z * h_prev + (1 - z) * gates["candidate"], outputs, atol=ATOL
    )


def test_simple_rnn_readout_is_the_state():
    layer, x, outputs = with_outputs("rnn")
    np.testing.assert_allclose(readout(layer, x)["state"], outputs, atol=ATOL)


@pytest.mark.parametrize("kind", CELL_TYPES)
def test_backwards_readout_is_aligned_with_input_time(kind):
    backwards, x, _ = with_outputs(kind, go_backwards=True)
    forward = built(rnnkit_layers.get_layer(kind, 4), weights=backwards.get_weights())
    ours = readout(backwards, x)
    reference = readout(forward, x[:, ::-1])
    for name in ours:
        np.testing.assert_allclose(ours[name], reference[name][:, ::-1], atol=ATOL)


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("kind", CELL_TYPES)
def test_masked_steps_read_zero(kind, go_backwards):
    layer, x, _ = with_outputs(kind, go_backwards=go_backwards)
    mask = padded_mask()
    gates = readout(layer, x, mask=tf.constant(mask))
    unmasked = readout(layer, x)
    # Row 1 reads as if its padding were cut off, in either direction.
    cut = readout(layer, x[1:2, :4])
    for name, value in gates.items():
        np.testing.assert_array_equal(value[~mask], 0.0)
        np.testing.assert_allclose(value[0], unmasked[name][0], atol=ATOL)
        np.testing.assert_allclose(value[1, :4], cut[name][0], atol=ATOL)
