"""Saving and reloading rnnkit models: `.keras` files, fresh processes, SavedModel."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from conftest import random_inputs

from rnnkit import layers as rnnkit_layers
from rnnkit.layers import CELL_TYPES

FEATURES = 5
ATOL = 1e-5


def build_model(kind, structure="single", **options):
    """A small model around rnnkit layers of `kind`, with random weights."""
    if structure == "single":
        model = keras.Sequential(
            [
                keras.Input((None, FEATURES)),
                rnnkit_layers.get_layer(kind, 4, **options),
                keras.layers.Dense(2),
            ]
        )
    else:
        inputs = keras.Input((None, FEATURES))
        if structure == "stacked":
            first = rnnkit_layers.get_layer(kind, 4, return_sequences=True, **options)
            x = rnnkit_layers.get_layer(kind, 3, name="second")(first(inputs))
        else:  # under Keras's wrapper or rnnkit's
            layer = rnnkit_layers.get_layer(kind, 4, **options)
            wrappers = {
                "bidirectional": keras.layers.Bidirectional,
                "rnnkit-bidirectional": rnnkit_layers.Bidirectional,
            }
            x = wrappers[structure](layer)(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2)(x))
    # Perturb every weight, so that ones, zeros (layer norm, learned x_0) and
    # the forget bias all matter for the outputs.
    rng = np.random.default_rng(3)
    model.set_weights(
        [
            w + 0.3 * rng.normal(size=w.shape).astype("float32")
            for w in model.get_weights()
        ]
    )
    return model


def plain_config(layer):
    """`get_config()` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(layer.get_config()))


def save_and_load(model, tmp_path):
    path = tmp_path / "m.keras"
    model.save(path)
    return keras.models.load_model(path)


def run_script(script, *args):
    """Runs a Python script in a fresh interpreter; fails with its stderr."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr


SAVE_CASES = [(kind, {}, "single") for kind in CELL_TYPES]
SAVE_CASES += [(k, {"initial_state_mode": "learned"}, "single") for k in CELL_TYPES]
SAVE_CASES += [(k, {"layer_norm": True}, "single") for k in ("gru", "lstm")]
SAVE_CASES += [(k, {"go_backwards": True}, "single") for k in CELL_TYPES]
SAVE_CASES += [(k, {}, "stacked") for k in CELL_TYPES]
SAVE_CASES += [(k, {}, "bidirectional") for k in CELL_TYPES]
SAVE_CASES += [(k, {}, "rnnkit-bidirectional") for k in ("gru", "lstm")]
SAVE_CASES += [
    ("lstm", {"layer_norm": True, "initial_state_mode": "learned"}, "stacked")
]


def case_id(case):
    kind, options, structure = case
    return "-".join([kind, structure, *options])


@pytest.mark.parametrize("case", SAVE_CASES, ids=[case_id(c) for c in SAVE_CASES])
def test_keras_file_round_trip_is_exact(case, tmp_path):
    kind, options, structure = case
    model = build_model(kind, structure, **options)
    x = random_inputs(3, 6, FEATURES)
    expected = model.predict(x, verbose=0)
    reloaded = save_and_load(model, tmp_path)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)
    assert [type(layer) for layer in reloaded.layers] == [
        type(layer) for layer in model.layers
    ]
    for original in model.layers:
        copy = reloaded.get_layer(original.name)
        assert plain_config(copy) == plain_config(original)
        if isinstance(original, keras.layers.Bidirectional):
            for attr in ("forward_layer", "backward_layer"):
                ours, theirs = getattr(copy, attr), getattr(original, attr)
                assert type(ours) is type(theirs)
                assert plain_config(ours) == plain_config(theirs)
                # Either wrapper's directions know that they share the cores.
                assert ours.cell.shares_cores is theirs.cell.shares_cores is True
    for name, value in options.items():
        recurrent = reloaded.layers[0] if structure == "single" else reloaded.layers[1]
        assert getattr(recurrent, name) == value


@pytest.mark.slow
def test_keras_file_loads_in_a_fresh_process(tmp_path):
    model = build_model(
        "lstm", "stacked", layer_norm=True, initial_state_mode="learned"
    )
    x = random_inputs(3, 6, FEATURES)
    np.save(tmp_path / "x.npy", x)
    model.save(tmp_path / "m.keras")
    run_script(
        """
        import sys
        import keras
        import numpy as np
        import rnnkit.layers  # registers the rnnkit classes

        folder = sys.argv[1]
        model = keras.models.load_model(folder + "/m.keras")
        assert type(model.layers[1]).__module__.startswith("rnnkit.")
        x = np.load(folder + "/x.npy")
        np.save(folder + "/y.npy", model.predict(x, verbose=0))
        """,
        tmp_path,
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / "y.npy"), model.predict(x, verbose=0)
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", CELL_TYPES)
def test_saved_model_serves_without_rnnkit(kind, tmp_path):
    model = build_model(kind)
    # The shapes at export time, and a larger batch and a longer sequence.
    inputs = {
        "x_export": random_inputs(3, 6, FEATURES, seed=0),
        "x_batch": random_inputs(5, 6, FEATURES, seed=1),
        "x_long": random_inputs(2, 11, FEATURES, seed=2),
    }
    model.predict(inputs["x_export"], verbose=0)
    model.export(str(tmp_path / "sm"), verbose=False)
    for name, x in inputs.items():
        np.save(tmp_path / f"{name}.npy", x)
    run_script(
        """
        import sys
        import numpy as np
        import tensorflow as tf

        folder = sys.argv[1]
        loaded = tf.saved_model.load(folder + "/sm")
        assert "serving_default" in loaded.signatures
        for name in sys.argv[2:]:
            x = np.load(f"{folder}/{name}.npy")
            np.save(f"{folder}/{name}_out.npy", loaded.serve(x).numpy())
        assert "rnnkit" not in sys.modules, "the SavedModel imported rnnkit"
        """,
        tmp_path,
        *inputs,
    )
    for name, x in inputs.items():
        served = np.load(tmp_path / f"{name}_out.npy")
        assert served.shape == (x.shape[0], 2)
        np.testing.assert_allclose(served, model.predict(x, verbose=0), atol=ATOL)


def stateful_model(kind, **options):
    """A stateful model (batch 2) with the weights of `build_model`."""
    inputs = keras.Input(batch_shape=(2, 4, FEATURES))
    layer = rnnkit_layers.get_layer(kind, 4, stateful=True, **options)
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
    model.set_weights(build_model(kind, **options).get_weights())
    return model


def predict(model, x):
    return model.predict(x, batch_size=x.shape[0], verbose=0)


@pytest.mark.parametrize("kind", CELL_TYPES)
def test_stateful_model_reloads_and_carries_state(kind, tmp_path):
    model = stateful_model(kind)
    x = random_inputs(2, 4, FEATURES)
    first, second = predict(model, x), predict(model, x)
    # The state carried from the first batch changes the second prediction.
    assert np.max(np.abs(first - second)) > 1e-4
    reloaded = save_and_load(model, tmp_path)
    assert reloaded.layers[1].stateful
    np.testing.assert_array_equal(predict(reloaded, x), first)
    np.testing.assert_array_equal(predict(reloaded, x), second)
    reloaded.layers[1].reset_state()
    np.testing.assert_array_equal(predict(reloaded, x), first)


@pytest.mark.parametrize("kind", CELL_TYPES)
def test_reloaded_stateful_model_starts_from_learned_x0(kind, tmp_path):
    model = stateful_model(kind, initial_state_mode="learned")
    x = random_inputs(2, 4, FEATURES)
    model.layers[1].reset_state()  # the documented way back to x_0
    from_x0 = predict(model, x)
    reloaded = save_and_load(model, tmp_path)
    np.testing.assert_array_equal(predict(reloaded, x), from_x0)
