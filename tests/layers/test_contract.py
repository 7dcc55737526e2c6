"""Contract: shapes, weights, arguments and config round trips."""

import ast
import inspect
import pathlib

import keras
import numpy as np
import pytest
from conftest import KERAS_CELLS, KERAS_LAYERS, random_inputs

import rnnkit
from rnnkit import layers as rnnkit_layers

KINDS = ["rnn", "gru", "lstm"]
STATES = {"rnn": 1, "gru": 1, "lstm": 2}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
LAYER_SOURCE = pathlib.Path(rnnkit_layers.__file__).parent


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_output_shapes(kind, return_sequences, return_state):
    layer = rnnkit_layers.get_layer(
        kind, 4, return_sequences=return_sequences, return_state=return_state
    )
    outputs = layer(random_inputs(3, 6, 5))
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    main = (3, 6, 4) if return_sequences else (3, 4)
    expected = [main] + [(3, 4)] * (STATES[kind] if return_state else 0)
    assert [tuple(o.shape) for o in outputs] == expected
    declared = layer.compute_output_shape((3, 6, 5))
    declared = [declared] if not return_state else list(declared)
    assert [tuple(d) for d in declared] == expected


@pytest.mark.parametrize("kind", KINDS)
def test_weights_are_named_and_shaped_like_keras(kind):
    layer = rnnkit_layers.get_layer(kind, 4)
    layer.build((3, 6, 5))
    width = GATES[kind] * 4
    bias_shape = (2, width) if kind == "gru" else (width,)
    shapes = [(5, width), (4, width), bias_shape]
    assert [tuple(w.shape) for w in layer.weights] == shapes
    assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.path.split("/")[-2] for w in layer.weights] == [layer.cell.name] * 3
    theirs = KERAS_LAYERS[kind](4)
    theirs.build((3, 6, 5))
    assert [w.path.split("/", 1)[1] for w in layer.weights] == [
        w.path.split("/", 1)[1] for w in theirs.weights
    ]


def test_gru_reset_before_has_a_single_bias():
    layer = rnnkit_layers.GRU(4, reset_after=False)
    layer.build((3, 6, 5))
    assert tuple(layer.cell.bias.shape) == (12,)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_contract(kind):
    cell = rnnkit_layers.get_cell(kind, 4)
    assert cell.output_size == 4
    sizes = cell.state_size if STATES[kind] > 1 else [cell.state_size]
    assert sizes == [4] * STATES[kind]
    states = cell.get_initial_state(batch_size=3)
    assert [tuple(s.shape) for s in states] == [(3, 4)] * STATES[kind]
    assert not np.any(np.asarray(states))


@pytest.mark.parametrize("kind", KINDS)
def test_constructor_arguments_and_defaults_are_keras_s(kind):
    for theirs, ours in [
        (KERAS_LAYERS[kind], type(rnnkit_layers.get_layer(kind, 1))),
        (KERAS_CELLS[kind], type(rnnkit_layers.get_cell(kind, 1))),
    ]:
        our_params = inspect.signature(ours.__init__).parameters
        for name, param in inspect.signature(theirs.__init__).parameters.items():
            if param.kind is param.VAR_KEYWORD:
                continue
            if name not in our_params:  # cells take the rarer ones as **kwargs
                assert ours is not type(rnnkit_layers.get_layer(kind, 1)), name
                continue
            assert our_params[name].default == param.default, name


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip_is_complete(kind):
    extras = {"gru": {"reset_after": False}, "lstm": {"unit_forget_bias": False}}
    layer = rnnkit_layers.get_layer(
        kind,
        4,
        activation="relu",
        dropout=0.25,
        recurrent_dropout=0.1,
        seed=5,
        go_backwards=True,
        return_state=True,
        zero_output_for_mask=True,
        kernel_regularizer="l2",
        activity_regularizer="l1",
        initial_state_mode="learned",
        name="recurrent",
        **extras.get(kind, {}),
    )
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    for key, value in [("activation", "relu"), ("dropout", 0.25), ("seed", 5)]:
        assert config[key] == value
    assert config["initial_state_mode"] == "learned"
    assert clone.zero_output_for_mask and clone.go_backwards


@pytest.mark.parametrize("kind", KINDS)
def test_a_keras_layer_config_builds_the_rnnkit_layer(kind):
    theirs = KERAS_LAYERS[kind](4, return_sequences=True, dropout=0.1)
    ours = type(rnnkit_layers.get_layer(kind, 1)).from_config(theirs.get_config())
    x = random_inputs()
    theirs.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_classes_are_registered_under_rnnkit(kind):
    for obj in (rnnkit_layers.get_layer(kind, 1), rnnkit_layers.get_cell(kind, 1)):
        name = type(obj).__name__
        assert keras.saving.get_registered_name(type(obj)) == f"rnnkit>{name}"
        assert keras.saving.get_registered_object(f"rnnkit>{name}") is type(obj)


def test_helpers_and_exports():
    assert rnnkit_layers.CELL_TYPES == ("rnn", "gru", "lstm")
    assert rnnkit.LSTM is rnnkit_layers.LSTM
    for kind, name in zip(rnnkit_layers.CELL_TYPES, ["SimpleRNN", "GRU", "LSTM"]):
        assert type(rnnkit_layers.get_layer(kind, 3)).__name__ == name
        assert type(rnnkit_layers.get_cell(kind, 3)).__name__ == f"{name}Cell"
        assert rnnkit_layers.get_layer(kind, 3, go_backwards=True).go_backwards


def dotted_names(path):
    """Every `a.b.c` attribute chain and imported module in a source file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            parts = []
            while isinstance(node, ast.Attribute):
                parts.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name):
                names.add(".".join([node.id, *reversed(parts)]))
        elif isinstance(node, ast.ImportFrom):
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_written_from_scratch():
    # No Keras recurrent class in the ancestry, and no code that reaches for
    # Keras's recurrent layers, cells or the backend's rnn() loop.
    recurrent = (keras.layers.RNN, *KERAS_LAYERS.values(), *KERAS_CELLS.values())
    for kind in KINDS:
        for obj in (rnnkit_layers.get_layer(kind, 1), rnnkit_layers.get_cell(kind, 1)):
            assert not isinstance(obj, recurrent)
    banned = ("RNN", "SimpleRNN", "GRU", "LSTM", "rnn", "lstm", "gru", "Cell")
    # demo.py runs the Keras built-ins on purpose, to compare against them.
    for path in set(LAYER_SOURCE.glob("*.py")) - {LAYER_SOURCE / "demo.py"}:
        for name in dotted_names(path):
            if name.startswith(("keras", "tf", "tensorflow", "backend")):
                assert not name.split(".")[-1].startswith(banned), (path.name, name)
                assert ".rnn" not in name, (path.name, name)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_compatibility_arguments_are_accepted_and_kept(kind):
    layer = rnnkit_layers.get_layer(kind, 4, use_cudnn=False, implementation=1)
    assert layer.use_cudnn is False and layer.implementation == 1
    assert layer.get_config()["use_cudnn"] is False
    # Keras's rule: recurrent dropout forces per-gate masks.
    assert rnnkit_layers.get_layer(kind, 4, recurrent_dropout=0.1).implementation == 1


@pytest.mark.parametrize("kind", KINDS)
def test_output_mask(kind):
    mask = np.array([[True, True, False]] * 2)
    sequences = rnnkit_layers.get_layer(kind, 4, return_sequences=True)
    assert np.array_equal(sequences.compute_mask(None, mask), mask)
    assert rnnkit_layers.get_layer(kind, 4).compute_mask(None, mask) is None
