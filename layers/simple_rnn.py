import keras

from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.simple_rnn_cell import SimpleRNNCell


@keras.saving.register_keras_serializable(package="rnnkit")
class SimpleRNN(Recurrent):
    """Fully connected RNN (Elman, 1990): `x_t = f(W_xx x_{t-1} + W_xu u_t + b)`.

    Runs `SimpleRNNCell` over a sequence of inputs `u_1 ... u_T`, starting
    from the initial condition `x_0`, with the same weights at every step.
    The inputs of all steps are projected in one large matmul before the time
    loop, which then runs only `W_xx x_{t-1}` and `f` (inference on 32 rows
    or more projects each step inside the loop). Its gradients through
    time are repeated products with `W_xx`, so on long sequences they explode
    or vanish; compare it with `GRU` and `LSTM`.

    A drop-in replacement for `keras.layers.SimpleRNN`: the same arguments,
    the same weights (`kernel`, `recurrent_kernel`, `bias`), so
    `set_weights(keras_layer.get_weights())` works both ways, and the same
    numbers.

    Args:
        units: Positive integer, the size of the state `x_t`.
        activation: The nonlinearity `f`. Default `"tanh"`.
        use_bias: Whether to add the bias `b`. Default `True`.
        kernel_initializer: Initializer for `kernel` (`W_xu`). Default
            `"glorot_uniform"`.
        recurrent_initializer: Initializer for `recurrent_kernel` (`W_xx`).
            Default `"orthogonal"`.
        bias_initializer: Initializer for `bias`. Default `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Regularizers for the three weights. Default `None`.
        activity_regularizer: Regularizer for the layer's output.
        kernel_constraint, recurrent_constraint, bias_constraint:
            Constraints for the three weights. Default `None`.
        dropout: Fraction in [0, 1) of the inputs to drop; one mask per
            sequence. Default 0.
        recurrent_dropout: Fraction in [0, 1) of `x_{t-1}` to drop; one mask
            per sequence. Default 0.
        return_sequences: Return every `x_t` rather than the last.
        return_state: Also return the final `x_T`.
        go_backwards: Process the sequence from its end and return the
            outputs in that order.
        stateful: Carry the final state of each batch into the next as its
            `x_0`; needs a fixed batch size. `reset_state()` restores `x_0`.
            Under `tf.distribute`, each replica carries the rows of its
            share of the batch (which the replicas must split evenly).
        unroll: Unroll the time loop into the graph (fixed lengths only).
        seed: Random seed for dropout.
        initial_state_mode: `"zeros"` (Keras) or `"learned"`, a trainable
            `x_0` (beyond Keras).
        **kwargs: Base layer arguments, and `zero_output_for_mask`.

    Call arguments:
        sequences: `u`, shape `(batch, timesteps, features)`.
        initial_state: Optional `[x_0]`, shape `(batch, units)`.
        mask: Optional boolean `(batch, timesteps)`; False steps are skipped.
        training: Whether dropout is active.

    Returns:
        The last `x_T`, or all outputs with `return_sequences`; with
        `return_state`, `[output, x_T]`.

    Example:

    >>> rnn = SimpleRNN(4, return_sequences=True)
    >>> rnn(np.zeros((2, 5, 3), "float32")).shape
    TensorShape([2, 5, 4])
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        seed=None,
        initial_state_mode="zeros",
        **kwargs,
    ):
        cell = SimpleRNNCell(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            initial_state_mode=initial_state_mode,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="simple_rnn_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
