"""Gradient flow through time, measured with the rnnkit cells.

Back-propagation through time carries the gradient of a loss at the last
step `T` back to the state `x_{T-k}` through the product of `k` step
Jacobians `∂x_t/∂x_{t-1}`. For the Elman RNN each factor is
`diag(f'(.)) W_xx`, so the product shrinks or grows geometrically with `k`,
the faster the more the tanh saturates. The gated cells add paths (the
LSTM's `c_t = f * c_{t-1} + ...`, the GRU's `h_t = z * h_{t-1} + ...`) whose
factor is a gate that training can hold near 1. At initialisation it is not:
the LSTM's forget gate starts near sigmoid(1) = 0.73 and the GRU's update
gate near 0.5 (`benchmarks/gradient_scales.py` measures the consequences).

`state_gradient_norms` measures that product directly, and the two synthetic
long-range tasks (`adding_problem`, `copy_memory`) give the cells something
to learn that needs it.
"""

import numpy as np
import tensorflow as tf

ADDING_BASELINE = 1.0 / 6.0  # MSE of always predicting the mean sum, 1
COPY_LENGTH, COPY_SYMBOLS = 10, 8  # Arjovsky, Shah & Bengio (2016)


def adding_problem(samples, timesteps, seed=0):
    """The adding problem (Hochreiter & Schmidhuber 1997).

    Each step holds `(value, marker)`: values are uniform in [0, 1), and two
    markers are 1, one in each half of the sequence. The target is the sum
    of the two marked values. Predicting its mean, 1, scores a mean squared
    error of 1/6 (`ADDING_BASELINE`), the variance of the sum.

    Args:
        samples: Number of sequences.
        timesteps: Length `T` of each sequence, at least 2.
        seed: Seed of the numpy generator.

    Returns:
        `(inputs, targets)`: float32 arrays of shapes `(samples, T, 2)` and
        `(samples, 1)`.

    Example:

    >>> x, y = adding_problem(4, 10)
    >>> x.shape, y.shape
    ((4, 10, 2), (4, 1))
    """
    if timesteps < 2:
        raise ValueError(f"`timesteps` must be at least 2. Received: {timesteps}")
    rng = np.random.default_rng(seed)
    values = rng.uniform(size=(samples, timesteps))
    rows = np.arange(samples)
    half = timesteps // 2
    first = rng.integers(0, half, samples)
    second = rng.integers(half, timesteps, samples)
    markers = np.zeros_like(values)
    markers[rows, first] = markers[rows, second] = 1.0
    inputs = np.stack([values, markers], axis=-1).astype("float32")
    targets = values[rows, first] + values[rows, second]
    return inputs, targets[:, None].astype("float32")


def copy_memory(samples, delay, seed=0):
    """The copy-memory task (Arjovsky, Shah & Bengio 2016).

    A sequence of `delay + 20` steps: 10 symbols drawn from 1..8, then
    `delay - 1` blanks (0), a delimiter (9), and 10 blanks during which the
    model must output the 10 symbols. The target is blank everywhere else.
    Outputting blanks and then a uniform guess scores a cross-entropy of
    `copy_baseline(delay)` per step.

    Args:
        samples: Number of sequences.
        delay: `T`, the number of steps between the last symbol and the
            delimiter plus one; at least 1.
        seed: Seed of the numpy generator.

    Returns:
        `(inputs, targets)`: one-hot float32 inputs of shape
        `(samples, delay + 20, 10)` and int32 targets of shape
        `(samples, delay + 20)`.

    Example:

    >>> x, y = copy_memory(2, 5)
    >>> x.shape, y.shape
    ((2, 25, 10), (2, 25))
    """
    if delay < 1:
        raise ValueError(f"`delay` must be at least 1. Received: {delay}")
    rng = np.random.default_rng(seed)
    length = delay + 2 * COPY_LENGTH
    symbols = rng.integers(1, COPY_SYMBOLS + 1, size=(samples, COPY_LENGTH))
    ids = np.zeros((samples, length), dtype="int32")
    ids[:, :COPY_LENGTH] = symbols
    ids[:, COPY_LENGTH + delay - 1] = COPY_SYMBOLS + 1  # the delimiter
    targets = np.zeros((samples, length), dtype="int32")
    targets[:, -COPY_LENGTH:] = symbols
    inputs = np.eye(COPY_SYMBOLS + 2, dtype="float32")[ids]
    return inputs, targets


def copy_baseline(delay):
    """Cross-entropy per step of blanks, then a uniform guess of the symbols."""
    return COPY_LENGTH * np.log(COPY_SYMBOLS) / (delay + 2 * COPY_LENGTH)


def fixed_readout(units, seed=0):
    """A random unit vector `r` of size `units`: the readout of `x_T` whose
    gradient `state_gradient_norms` follows back through time."""
    r = np.random.default_rng(seed).normal(size=units)
    return (r / np.linalg.norm(r)).astype("float32")


def state_gradient_norms(cell, inputs, readout=None, seed=0):
    """How strongly the last state depends on each earlier one.

    Drives `cell` one step at a time over `inputs` from the initial
    condition `x_0`, then takes the loss `L = Σ_batch r · h_T`, a fixed
    linear readout `r` (`fixed_readout(units, seed)` unless given) of the
    last output. Its gradient with respect to the state `x_{T-k}` is
    `r^T ∂h_T/∂x_{T-k}`, the product of `k` step Jacobians that makes
    gradients vanish or explode. For the LSTM the state is `(h, c)` and the
    norm is taken over both.

    Args:
        cell: An rnnkit (or any Keras-contract) cell; built if needed.
        inputs: `u_1 ... u_T`, shape `(batch, T, features)`.
        readout: The vector `r`, shape `(units,)`. Default: a random unit
            vector.
        seed: Seed of the default readout.

    Returns:
        A numpy array of `T + 1` norms, index `k` holding the mean over the
        batch of `|∂L/∂x_{T-k}|`: index 0 is `x_T`, index `T` is `x_0`.

    Example:

    >>> from rnnkit.layers import get_cell
    >>> norms = state_gradient_norms(get_cell("gru", 4), np.ones((2, 6, 3)))
    >>> norms.shape
    (7,)
    """
    inputs = tf.convert_to_tensor(inputs, dtype=tf.float32)
    batch, timesteps = int(inputs.shape[0]), int(inputs.shape[1])
    if not cell.built:
        cell.build((batch, int(inputs.shape[-1])))
    if readout is None:
        readout = fixed_readout(cell.units, seed)
    states = list(cell.get_initial_state(batch_size=batch))
    history = []
    with tf.GradientTape() as tape:
        for t in range(timesteps + 1):
            tape.watch(states)
            history.append(states)
            if t == timesteps:
                break
            _, states = cell(inputs[:, t], states, training=False)
            states = list(states)
        loss = tf.reduce_sum(states[0] * tf.constant(readout)[None, :])
    gradients = tape.gradient(loss, history)
    norms = [_per_example_norm(g, s) for g, s in zip(gradients, history)]
    return np.array(norms[::-1])  # index k: lag k


def _per_example_norm(gradients, states):
    # A state the loss never reaches has no gradient rather than zeros.
    squares = sum(
        np.sum(np.square(np.zeros(s.shape) if g is None else g.numpy()), axis=-1)
        for g, s in zip(gradients, states)
    )
    return float(np.mean(np.sqrt(squares)))


def decay_rate(norms):
    """The fitted slope of `log10(norm)` per step of lag.

    Fitted over lags 1 to T by least squares; norms that are zero (below
    float32's range) or not finite are left out. Negative: vanishing
    gradients, about `-0.1` meaning ten times smaller every ten steps;
    positive: exploding.

    Args:
        norms: The output of `state_gradient_norms`.

    Returns:
        The slope, or NaN when fewer than two lags are usable.

    Example:

    >>> decay_rate(np.array([1.0, 0.1, 0.01, 0.001]))
    -1.0
    """
    norms = np.asarray(norms, dtype="float64")
    lags = np.arange(len(norms))
    usable = (lags >= 1) & np.isfinite(norms) & (norms > 0)
    if usable.sum() < 2:
        return float("nan")
    slope, _ = np.polyfit(lags[usable], np.log10(norms[usable]), 1)
    return round(float(slope), 12)


def spectral_radius(matrix):
    """The largest absolute eigenvalue of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(matrix)))))


def set_spectral_radius(cell, radius):
    """Rescales each `(units, units)` block of the cell's `W_xx` in place.

    The Elman RNN's `recurrent_kernel` is one such block; the gated cells
    have one per gate. Above 1, the Elman RNN's gradients can grow with the
    lag instead of vanishing.

    Args:
        cell: A built rnnkit cell.
        radius: The new spectral radius of each block, > 0.

    Returns:
        The spectral radii of the blocks before rescaling.

    Example:

    >>> from rnnkit.layers import get_cell
    >>> cell = get_cell("rnn", 4)
    >>> cell.build((None, 3))
    >>> _ = set_spectral_radius(cell, 1.5)
    >>> round(spectral_radius(cell.recurrent_kernel.numpy()), 4)
    1.5
    """
    if not radius > 0:
        raise ValueError(f"`radius` must be positive. Received: radius={radius}")
    kernel = np.array(cell.recurrent_kernel.numpy())
    units = kernel.shape[0]
    before = []
    for start in range(0, kernel.shape[1], units):
        block = kernel[:, start : start + units]
        before.append(spectral_radius(block))
        kernel[:, start : start + units] = block * (radius / before[-1])
    cell.recurrent_kernel.assign(kernel)
    return before
