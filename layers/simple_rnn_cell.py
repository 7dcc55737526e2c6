import keras
from keras import activations

from rnnkit.layers.base_cell import RecurrentCell
from rnnkit.layers.bptt import tanh_derivative


@keras.saving.register_keras_serializable(package="rnnkit")
class SimpleRNNCell(RecurrentCell):
    """One step of the Elman RNN: `x_t = f(W_xx x_{t-1} + W_xu u_t + b)`.

    The plain state-space model. `kernel` is `W_xu`, `recurrent_kernel` is
    `W_xx`, and the same weights serve every time step. Repeated
    multiplication by `W_xx` during back-propagation through time is what
    makes its gradients explode or vanish; the gated cells exist to fix that.

    A drop-in replacement for `keras.layers.SimpleRNNCell`: same arguments,
    weights and numbers. Run it over a sequence with `rnnkit.layers.SimpleRNN`,
    which is faster, or inside `keras.layers.RNN`.

    Args:
        units: Positive integer, the size of the state `x_t` (and output).
        activation: The state nonlinearity `f`. Default `"tanh"`; `None`
            means linear.
        use_bias: Whether to add the bias `b`. Default `True`.
        kernel_initializer: Initializer for `kernel` (`W_xu`).
            Default `"glorot_uniform"`.
        recurrent_initializer: Initializer for `recurrent_kernel` (`W_xx`).
            Default `"orthogonal"`.
        bias_initializer: Initializer for `bias`. Default `"zeros"`.
        kernel_regularizer: Regularizer for `kernel`. Default `None`.
        recurrent_regularizer: Regularizer for `recurrent_kernel`.
        bias_regularizer: Regularizer for `bias`.
        kernel_constraint: Constraint for `kernel`.
        recurrent_constraint: Constraint for `recurrent_kernel`.
        bias_constraint: Constraint for `bias`.
        dropout: Fraction in [0, 1) of the inputs `u_t` to drop. Default 0.
        recurrent_dropout: Fraction in [0, 1) of the state `x_{t-1}` to drop
            in the recurrent term. Default 0.
        seed: Random seed for dropout.
        initial_state_mode: `"zeros"` (Keras's behaviour) or `"learned"`, which
            makes the initial condition `x_0` a trainable weight
            `initial_h`.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: `u_t`, shape `(batch, features)`.
        states: `[x_{t-1}]` (or the bare tensor), shape `(batch, units)`.
        training: Whether dropout is active. When an outer loop such as
            `keras.layers.RNN` calls the cell, masks are drawn anew at each
            step; the rnnkit sequence layers use one mask per sequence.

    Returns:
        `(output, new_states)`: `x_t` twice, the second in the structure of
        `states`.

    Example:

    >>> cell = SimpleRNNCell(4)
    >>> layer = keras.layers.RNN(cell)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    TensorShape([2, 4])
    """

    gates = ("state",)
    state_names = ("h",)
    readout_names = ("state",)
    seed_generator_first = True  # as in keras.layers.SimpleRNNCell
    fused_saved_blocks = 0

    def step(self, projected_t, states, recurrent_masks=None):
        h_tm1 = states[0]
        h = self.activation(
            projected_t + self.recurrent_projection(h_tm1, recurrent_masks)
        )
        return h, [h], (h,)

    def fusable(self):
        return self.activation is activations.tanh and not self.recurrent_dropout

    def fused_forward(self, projected_t, recurrent, states):
        h = activations.tanh(projected_t[0] + recurrent[0])
        return [h], ()  # backward reads x_t itself, so nothing is saved

    def fused_backward(self, h, d_states):
        return [tanh_derivative(h, d_states[0])], None, [None]  # tanh' = 1 - tanh^2
