"""Gradient flow through time (`rnnkit.layers.diagnostics`) and the gate
read-out it is shown with."""

import doctest

import keras
import numpy as np
import pytest

from rnnkit.layers import diagnostics, get_cell, get_layer


def unit_scale_inputs(batch=8, timesteps=41, features=16, seed=0):
    # Inputs of unit scale, as an embedding gives: the tanh RNN saturates.
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, timesteps, features)).astype("float32")


def norms(kind, inputs, units=16, radius=None, **kwargs):
    cell = get_cell(kind, units, **kwargs)
    cell.build((None, inputs.shape[-1]))
    if radius is not None:
        diagnostics.set_spectral_radius(cell, radius)
    return diagnostics.state_gradient_norms(cell, inputs)


def test_saturated_simple_rnn_vanishes_orders_of_magnitude_below_the_gated_cells():
    # Standard initialisation, inputs large enough to saturate the tanh: the
    # Elman RNN's step Jacobian diag(1 - x^2) W_xx shrinks the gradient far
    # faster than the LSTM's forget gate (about 0.73) or the GRU's update
    # gate (about 0.5) do. benchmarks/gradient_scales.py has the whole table.
    inputs = unit_scale_inputs() * 3.0
    rnn, gru, lstm = norms("rnn", inputs), norms("gru", inputs), norms("lstm", inputs)
    assert rnn.shape == gru.shape == lstm.shape == (42,)
    assert rnn[40] * 1e3 < gru[40]
    assert rnn[40] * 1e3 < lstm[40]
    assert diagnostics.decay_rate(rnn) < diagnostics.decay_rate(gru) < 0
    assert diagnostics.decay_rate(rnn) < diagnostics.decay_rate(lstm) < 0


def test_simple_rnn_vanishes_below_the_lstm_already_at_unit_scale():
    inputs = unit_scale_inputs()
    rnn, lstm = norms("rnn", inputs), norms("lstm", inputs)
    # The LSTM's forget bias starts at 1, so its cell state carries the
    # gradient; the Elman RNN multiplies by diag(1 - x^2) W_xx at every step.
    assert rnn[40] * 100 < lstm[40]
    assert diagnostics.decay_rate(rnn) < diagnostics.decay_rate(lstm) < 0


def test_small_inputs_keep_the_simple_rnn_gradient_and_the_gru_halves_it():
    # The other side of the boundary, a documented finding: near its linear
    # regime the tanh RNN with an orthogonal W_xx keeps the gradient at
    # initialisation, while the GRU's update gate, about 0.5 whatever the
    # input, still shrinks it at every step until training opens it.
    inputs = unit_scale_inputs() * 0.1
    rnn, gru, lstm = norms("rnn", inputs), norms("gru", inputs), norms("lstm", inputs)
    assert rnn[40] > 10 * lstm[40] and lstm[40] > 1e3 * gru[40]
    assert diagnostics.decay_rate(rnn) > -0.05
    assert diagnostics.decay_rate(gru) < np.log10(0.65)


def test_raising_the_spectral_radius_makes_rnn_gradients_grow_with_lag():
    inputs = unit_scale_inputs(features=2) * 0.3
    standard = norms("rnn", inputs)
    exploding = norms("rnn", inputs, radius=2.0)
    assert standard[40] < standard[0]
    assert exploding[40] > 10 * exploding[0]
    assert diagnostics.decay_rate(exploding) > 0 > diagnostics.decay_rate(standard)


def test_gradient_norms_equal_the_jacobian_product_of_a_linear_rnn():
    # With f = identity and zero bias, dL/dx_{T-k} = W_xx^k r exactly.
    cell = get_cell("rnn", 3, activation=None)
    inputs = unit_scale_inputs(batch=2, timesteps=5, features=2)
    readout = np.array([0.6, 0.0, 0.8], "float32")
    measured = diagnostics.state_gradient_norms(cell, inputs, readout=readout)
    w = cell.recurrent_kernel.numpy()
    expected = [
        np.linalg.norm(np.linalg.matrix_power(w, k) @ readout) for k in range(6)
    ]
    np.testing.assert_allclose(measured, expected, rtol=1e-5)


def test_lstm_norms_cover_both_states():
    inputs = unit_scale_inputs(batch=2, timesteps=3, features=2)
    measured = norms("lstm", inputs, units=4)
    # At lag 0 the loss reads h_T and, through it, c_T: more than |r| = 1.
    assert measured[0] > 1.0 and np.all(np.isfinite(measured))


def test_set_spectral_radius_rescales_every_gate_block():
    cell = get_cell("gru", 4)
    cell.build((None, 3))
    before = diagnostics.set_spectral_radius(cell, 1.5)
    assert len(before) == 3
    kernel = cell.recurrent_kernel.numpy()
    for start in (0, 4, 8):
        radius = diagnostics.spectral_radius(kernel[:, start : start + 4])
        assert radius == pytest.approx(1.5, rel=1e-5)
    with pytest.raises(ValueError, match="Received"):
        diagnostics.set_spectral_radius(cell, 0.0)


def test_decay_rate_skips_lag_zero_and_underflow():
    norms = np.array([5.0, 1.0, 0.1, 0.0, 0.001])
    assert diagnostics.decay_rate(norms) == pytest.approx(-1.0)
    assert np.isnan(diagnostics.decay_rate(np.array([1.0, 0.0])))


def test_adding_problem_targets_and_baseline():
    x, y = diagnostics.adding_problem(4000, 20, seed=3)
    assert x.shape == (4000, 20, 2) and y.shape == (4000, 1)
    assert np.all(x[:, :, 1].sum(axis=1) == 2)
    assert np.all(x[:, :10, 1].sum(axis=1) == 1)  # one marker in each half
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * x[:, :, 1]).sum(axis=1), 1e-6)
    mse_of_mean = np.mean((y - 1.0) ** 2)
    assert mse_of_mean == pytest.approx(diagnostics.ADDING_BASELINE, rel=0.05)


def test_copy_memory_layout():
    x, y = diagnostics.copy_memory(3, 7, seed=1)
    ids = x.argmax(-1)
    assert x.shape == (3, 27, 10) and y.shape == (3, 27)
    np.testing.assert_array_equal(y[:, -10:], ids[:, :10])
    assert np.all((ids[:, :10] >= 1) & (ids[:, :10] <= 8))
    assert np.all(ids[:, 16] == 9) and ids[:, 10:16].sum() == 0
    assert y[:, :17].sum() == 0
    assert diagnostics.copy_baseline(7) == pytest.approx(10 * np.log(8) / 27)


@pytest.mark.parametrize(
    "kind,gates",
    [("lstm", ("input", "forget", "output")), ("gru", ("update", "reset"))],
)
def test_gate_readout_lies_in_the_unit_interval(kind, gates):
    layer = get_layer(kind, 5)
    readout = layer.gate_activations(unit_scale_inputs(batch=3, timesteps=6) * 3)
    for name in gates:
        values = np.asarray(readout[name])
        assert values.shape == (3, 6, 5)
        assert np.all((values > 0) & (values < 1)), name


def test_docstring_examples():
    globs = {**vars(diagnostics), "np": np, "keras": keras}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = [
        t for t in doctest.DocTestFinder().find(diagnostics, globs=globs) if t.examples
    ]
    assert len(tests) >= 5
    for test in tests:
        runner.run(test)
    assert runner.failures == 0
