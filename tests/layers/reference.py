"""NumPy versions of the three cells, written straight from the equations.

They check the layers against the maths itself, independently of Keras, and
cover what Keras does not have (layer normalisation, learned `x_0`).
"""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def layer_norm(x, gamma, beta=0.0, epsilon=1e-3):
    mean = x.mean(axis=-1, keepdims=True)
    variance = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def per_gate_norm(x, gamma, units):
    blocks = [
        layer_norm(
            x[:, k * units : (k + 1) * units], gamma[k * units : (k + 1) * units]
        )
        for k in range(x.shape[-1] // units)
    ]
    return np.concatenate(blocks, axis=-1)


def simple_rnn(u, kernel, recurrent_kernel, bias, h0=None):
    """x_t = tanh(W_xx x_{t-1} + W_xu u_t + b); returns all x_t."""
    h = np.zeros((u.shape[0], kernel.shape[1])) if h0 is None else h0
    outputs = []
    for t in range(u.shape[1]):
        h = np.tanh(u[:, t] @ kernel + h @ recurrent_kernel + bias)
        outputs.append(h)
    return np.stack(outputs, axis=1)


def gru(u, kernel, recurrent_kernel, bias, reset_after=True):
    units = recurrent_kernel.shape[0]
    h = np.zeros((u.shape[0], units))
    input_bias, recurrent_bias = (bias[0], bias[1]) if reset_after else (bias, 0.0)
    outputs = []
    for t in range(u.shape[1]):
        x = u[:, t] @ kernel + input_bias
        x_z, x_r, x_h = np.split(x, 3, axis=-1)
        rec = h @ recurrent_kernel + recurrent_bias
        r_z, r_r, r_h = np.split(rec, 3, axis=-1)
        z, r = sigmoid(x_z + r_z), sigmoid(x_r + r_r)
        if reset_after:
            candidate = np.tanh(x_h + r * r_h)
        else:
            candidate = np.tanh(x_h + (r * h) @ recurrent_kernel[:, 2 * units :])
        h = z * h + (1 - z) * candidate
        outputs.append(h)
    return np.stack(outputs, axis=1)


def lstm(u, kernel, recurrent_kernel, bias, norms=None, h0=None, c0=None):
    """`norms`: (input_gamma, recurrent_gamma, cell_gamma, cell_beta) for the
    layer-normalised LSTM, or None."""
    units = recurrent_kernel.shape[0]
    h = np.zeros((u.shape[0], units)) if h0 is None else h0
    c = np.zeros((u.shape[0], units)) if c0 is None else c0
    outputs = []
    for t in range(u.shape[1]):
        x, rec = u[:, t] @ kernel, h @ recurrent_kernel
        if norms is not None:
            x = per_gate_norm(x, norms[0], units)
            rec = per_gate_norm(rec, norms[1], units)
        z_i, z_f, z_c, z_o = np.split(x + rec + bias, 4, axis=-1)
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        c_out = c if norms is None else layer_norm(c, norms[2], norms[3])
        h = sigmoid(z_o) * np.tanh(c_out)
        outputs.append(h)
    return np.stack(outputs, axis=1)
