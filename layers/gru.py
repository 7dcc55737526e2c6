import keras

from rnnkit.layers.gru_cell import GRUCell
from rnnkit.layers.recurrent import Recurrent, cell_property, check_use_cudnn


@keras.saving.register_keras_serializable(package="rnnkit")
class GRU(Recurrent):
    """Gated Recurrent Unit layer (Cho et al., 2014).

    Runs `GRUCell` over a sequence of inputs `u_1 ... u_T`, starting from the
    initial condition `x_0 = h_0`, with the same weights at every step. The
    inputs of all steps are projected in one large matmul before the time
    loop, which then runs only the recurrent matmul and the gate math
    (inference on 32 rows or more, or on a batch size unknown when
    traced, projects each step inside the loop). With
    no cell state and three weight blocks to the LSTM's four, a GRU has
    about 3/4 of the LSTM's parameters.

    A drop-in replacement for `keras.layers.GRU`: the same arguments, the same
    weights in the same order (`kernel`, `recurrent_kernel`, `bias`, gates
    `z, r, h`; with `reset_after=True` the bias is `(2, 3 * units)`), so
    `set_weights(keras_layer.get_weights())` works both ways, and the same
    numbers. rnnkit never calls cuDNN: `use_cudnn` and `implementation` are
    accepted for compatibility.

    Args:
        units: Positive integer, the size of `h_t`.
        activation: Nonlinearity of the candidate. Default `"tanh"`.
        recurrent_activation: Nonlinearity of the gates. Default `"sigmoid"`.
        use_bias: Whether to add a bias. Default `True`.
        kernel_initializer: Initializer for `kernel`. Default
            `"glorot_uniform"`.
        recurrent_initializer: Initializer for `recurrent_kernel`. Default
            `"orthogonal"`.
        bias_initializer: Initializer for `bias`. Default `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Regularizers for the three weights. Default `None`.
        activity_regularizer: Regularizer for the layer's output.
        kernel_constraint, recurrent_constraint, bias_constraint:
            Constraints for the three weights. Default `None`.
        dropout: Fraction in [0, 1) of the inputs to drop; one mask per
            sequence. Default 0.
        recurrent_dropout: Fraction in [0, 1) of `h_{t-1}` to drop; one mask
            per sequence. Default 0.
        seed: Random seed for dropout.
        return_sequences: Return every `h_t` rather than the last.
        return_state: Also return the final `h_T`.
        go_backwards: Process the sequence from its end and return the
            outputs in that order.
        stateful: Carry the final state of each batch into the next as its
            `x_0`; needs a fixed batch size. `reset_state()` restores `x_0`.
            Under `tf.distribute`, each replica carries the rows of its
            share of the batch (which the replicas must split evenly).
        unroll: Unroll the time loop into the graph (fixed lengths only).
        reset_after: Apply the reset gate after the recurrent matmul (`True`,
            the default and cuDNN's convention) or before it (`False`).
        use_cudnn: Accepted for compatibility; rnnkit runs its own loop.
        implementation: Accepted for compatibility: with dropout, 1 draws one
            input mask per gate, any other value (2, the default, or the
            legacy 0 of old saved configs) one for all; recurrent dropout
            forces 1. Kept as given, as Keras keeps it.
        layer_norm: Layer-normalise the gates (beyond Keras, off by default).
        initial_state_mode: `"zeros"` (Keras) or `"learned"`, a trainable
            `x_0` (beyond Keras).
        **kwargs: Base layer arguments, and `zero_output_for_mask`.

    Call arguments:
        sequences: `u`, shape `(batch, timesteps, features)`.
        initial_state: Optional `[h_0]`, shape `(batch, units)`.
        mask: Optional boolean `(batch, timesteps)`; False steps are skipped.
        training: Whether dropout is active.

    Returns:
        The last `h_T`, or all outputs with `return_sequences`; with
        `return_state`, `[output, h_T]`.

    Example:

    >>> gru = GRU(4, return_state=True)
    >>> output, h = gru(np.zeros((2, 5, 3), "float32"))
    >>> output.shape
    TensorShape([2, 4])
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        reset_after=True,
        use_cudnn="auto",
        implementation=2,
        layer_norm=False,
        initial_state_mode="zeros",
        **kwargs,
    ):
        check_use_cudnn(use_cudnn)
        cell = GRUCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
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
            reset_after=reset_after,
            seed=seed,
            implementation=implementation,
            layer_norm=layer_norm,
            initial_state_mode=initial_state_mode,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="gru_cell",
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
        self.use_cudnn = use_cudnn

    recurrent_activation = cell_property("recurrent_activation")
    reset_after = cell_property("reset_after")
    implementation = cell_property("implementation")
    layer_norm = cell_property("layer_norm")

    def get_config(self):
        return {**super().get_config(), "use_cudnn": self.use_cudnn}
