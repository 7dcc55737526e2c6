"""Configs with Keras's legacy `implementation=0` load as they do in Keras.

Keras 3 takes `implementation` from the cell's `**kwargs` without checking it,
keeps it as given, and draws per-gate dropout masks only for 1: the 0 of old
saved configs, like any other value, runs as the default 2.
"""

import keras
import numpy as np
import pytest
from conftest import KERAS_CELLS, KERAS_LAYERS, keras_and_rnnkit, random_inputs

from rnnkit import layers as rnnkit_layers

# Keras's gru_test.py, test_legacy_implementation_argument: GRU(3) on
# arange(72) as (3, 6, 4), every kernel entry 0.01, every recurrent entry
# 0.02, every bias 0.03. The weights are constant, so the units of a row agree.
LEGACY_GRU_OUTPUT = [0.5217289, 0.6371659, 0.3938496]


def legacy_config(make, kind):
    """The config of `make(kind, 3)` with constant weights, plus the legacy
    `implementation=0`."""
    layer = make(
        kind,
        3,
        kernel_initializer=keras.initializers.Constant(0.01),
        recurrent_initializer=keras.initializers.Constant(0.02),
        bias_initializer=keras.initializers.Constant(0.03),
    )
    return {**layer.get_config(), "implementation": 0}


def keras_layer(kind, *args, **kwargs):
    return KERAS_LAYERS[kind](*args, **kwargs)


def rnnkit_class(kind):
    return type(rnnkit_layers.get_layer(kind, 1))


@pytest.mark.parametrize("make", [rnnkit_layers.get_layer, keras_layer])
def test_legacy_gru_config_gives_keras_s_numbers(make):
    sequence = np.arange(72, dtype="float32").reshape(3, 6, 4)
    layer = rnnkit_layers.GRU.from_config(legacy_config(make, "gru"))
    expected = np.repeat(np.array(LEGACY_GRU_OUTPUT)[:, None], 3, axis=1)
    np.testing.assert_allclose(layer(sequence), expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("make", [rnnkit_layers.get_layer, keras_layer])
def test_legacy_lstm_config_gives_keras_s_numbers(make):
    sequence = np.arange(72, dtype="float32").reshape(3, 6, 4)
    ours = rnnkit_layers.LSTM.from_config(legacy_config(make, "lstm"))
    theirs = keras.layers.LSTM.from_config(legacy_config(keras_layer, "lstm"))
    np.testing.assert_allclose(ours(sequence), theirs(sequence), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_legacy_value_is_kept_and_reported_as_in_keras(kind):
    ours = rnnkit_class(kind).from_config(legacy_config(keras_layer, kind))
    theirs = KERAS_LAYERS[kind].from_config(legacy_config(keras_layer, kind))
    # Keras 3 leaves `implementation` out of get_config() and keeps it only on
    # the cell; rnnkit's config covers every argument, so it reports that value.
    reported = theirs.get_config().get("implementation", theirs.cell.implementation)
    config = ours.get_config()
    assert ours.implementation == ours.cell.implementation == 0
    assert config["implementation"] == reported == 0
    assert rnnkit_class(kind).from_config(config).get_config() == config


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_legacy_value_loads_into_the_cells(kind):
    config = {**KERAS_CELLS[kind](3).get_config(), "implementation": 0}
    ours = type(rnnkit_layers.get_cell(kind, 1)).from_config(config)
    theirs = KERAS_CELLS[kind].from_config(config)
    assert ours.implementation == theirs.implementation == 0
    assert ours.get_config()["implementation"] == 0


@pytest.mark.parametrize("implementation", [0, 3, None])
@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_values_other_than_1_share_one_dropout_mask_as_in_keras(kind, implementation):
    # Keras rejects no value of `implementation`, so neither does rnnkit.
    theirs, ours = keras_and_rnnkit(
        kind, dropout=0.3, seed=3, return_sequences=True, implementation=implementation
    )
    assert ours.implementation == theirs.cell.implementation == implementation
    assert ours.cell.dropout_mask_count == 1
    x = random_inputs()
    trained = np.asarray(ours(x, training=True))
    np.testing.assert_allclose(trained, theirs(x, training=True), atol=1e-5)
    assert np.max(np.abs(trained - np.asarray(ours(x)))) > 1e-3  # dropout acted
