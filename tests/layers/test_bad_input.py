"""Bad arguments and inputs get a ValueError naming the argument and what it
received."""

import re

import keras
import numpy as np
import pytest

from rnnkit import layers as rnnkit_layers

KINDS = ["rnn", "gru", "lstm"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("units", [0, -3, 2.5, True, "8"])
def test_units_must_be_a_positive_integer(kind, units):
    with pytest.raises(ValueError, match=rf"`units`.*Received: units={units!r}"):
        rnnkit_layers.get_layer(kind, units)
    with pytest.raises(ValueError, match=r"`units`"):
        rnnkit_layers.get_cell(kind, units)


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_activation_is_named(kind):
    with pytest.raises(ValueError, match=r"`activation`.*Received: activation='tahn'"):
        rnnkit_layers.get_layer(kind, 4, activation="tahn")


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_unknown_recurrent_activation_is_named(kind):
    with pytest.raises(
        ValueError,
        match=r"`recurrent_activation`.*Received: recurrent_activation='sigmod'",
    ):
        rnnkit_layers.get_layer(kind, 4, recurrent_activation="sigmod")


@pytest.mark.parametrize("factory", [rnnkit_layers.get_cell, rnnkit_layers.get_layer])
def test_unknown_cell_kind_lists_the_known_kinds(factory):
    with pytest.raises(
        ValueError, match=r"\('rnn', 'gru', 'lstm'\).*kind='transformer'"
    ):
        factory("transformer", 4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4, 5)])
def test_inputs_of_the_wrong_rank(kind, shape):
    layer = rnnkit_layers.get_layer(kind, 4)
    expected = re.escape(f"Received: inputs.shape={shape}")
    with pytest.raises(ValueError, match=expected):
        layer(np.zeros(shape, "float32"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask_shape", [(3, 5), (2, 6), (3, 6, 2)])
def test_mask_that_does_not_match_the_inputs(kind, mask_shape):
    layer = rnnkit_layers.get_layer(kind, 4)
    x = np.zeros((3, 6, 5), "float32")
    with pytest.raises(
        ValueError, match=r"`mask` must have shape.*Received: mask.shape="
    ):
        layer(x, mask=np.ones(mask_shape, bool))


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_without_a_fixed_batch_size(kind):
    layer = rnnkit_layers.get_layer(kind, 4, stateful=True)
    with pytest.raises(ValueError, match=r"`stateful=True` needs a fixed batch size"):
        keras.Sequential([keras.Input((6, 5)), layer])


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_batch_size_cannot_change(kind):
    layer = rnnkit_layers.get_layer(kind, 4, stateful=True)
    layer(np.zeros((3, 6, 5), "float32"))
    with pytest.raises(ValueError, match=r"Expected: 3.*inputs.shape=\(2, 6, 5\)"):
        layer(np.zeros((2, 6, 5), "float32"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_outside_zero_to_one(kind, name, rate):
    with pytest.raises(
        ValueError, match=rf"`{name}` must be in \[0, 1\).*{name}={rate}"
    ):
        rnnkit_layers.get_layer(kind, 4, **{name: rate})


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_number_of_initial_states(kind):
    layer = rnnkit_layers.get_layer(kind, 4)
    x = np.zeros((3, 6, 5), "float32")
    states = [np.zeros((3, 4), "float32")] * 3
    with pytest.raises(ValueError, match=r"Received: initial_state with 3 tensor"):
        layer(x, initial_state=states)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_other_arguments_are_checked(kind):
    with pytest.raises(ValueError, match=r"use_cudnn='yes'"):
        rnnkit_layers.get_layer(kind, 4, use_cudnn="yes")
    with pytest.raises(ValueError, match=r"initial_state_mode='random'"):
        rnnkit_layers.get_layer(kind, 4, initial_state_mode="random")


def test_unroll_needs_a_fixed_length():
    import tensorflow as tf

    layer = rnnkit_layers.LSTM(4, unroll=True)
    layer.build((None, None, 5))
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, None, 5))])
    with pytest.raises(ValueError, match=r"`unroll=True` needs a fixed number"):
        traced.get_concrete_function()
