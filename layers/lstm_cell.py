import keras
from keras import initializers, ops

from rnnkit.layers.base_cell import layer_normalize
from rnnkit.layers.bptt import sigmoid_derivative, split_gates, tanh_derivative
from rnnkit.layers.gated_cell import GatedCell


@keras.saving.register_keras_serializable(package="rnnkit")
class LSTMCell(GatedCell):
    """One step of the LSTM: a state `x_t = (h_t, c_t)` guarded by four gates.

    With the inputs `u_t` projected by `kernel` (`W_xu`) and the previous
    output `h_{t-1}` by `recurrent_kernel` (`W_xx`), in the gate order
    `i, f, c, o`:

        i = σ(.)  f = σ(.)  o = σ(.)     input, forget and output gates
        g = tanh(.)                      the candidate cell state
        c_t = f * c_{t-1} + i * g        the cell state: an additive path
        h_t = o * tanh(c_t)

    The cell state `c_t` changes by addition, gated by `f`, so its gradient
    through time is scaled by the forget gate rather than by repeated
    products with `W_xx`. The same weights serve every time step.

    A drop-in replacement for `keras.layers.LSTMCell`: same arguments,
    weights and numbers. Run it over a sequence with `rnnkit.layers.LSTM`,
    which is faster, or inside `keras.layers.RNN`.

    Args:
        units: Positive integer, the size of `h_t` and `c_t`.
        activation: Nonlinearity of the candidate and the output.
            Default `"tanh"`.
        recurrent_activation: Nonlinearity of the gates. Default `"sigmoid"`.
        use_bias: Whether to add a bias. Default `True`.
        kernel_initializer: Initializer for `kernel`. Default
            `"glorot_uniform"`.
        recurrent_initializer: Initializer for `recurrent_kernel`. Default
            `"orthogonal"`.
        bias_initializer: Initializer for `bias`. Default `"zeros"`.
        unit_forget_bias: If `True` (the default), the forget gate's bias
            starts at 1, so the cell remembers by default (Jozefowicz et
            al., 2015).
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Regularizers for the three weights. Default `None`.
        kernel_constraint, recurrent_constraint, bias_constraint:
            Constraints for the three weights. Default `None`.
        dropout: Fraction in [0, 1) of the inputs to drop. Default 0.
        recurrent_dropout: Fraction in [0, 1) of `h_{t-1}` to drop in the
            recurrent term. Default 0.
        seed: Random seed for dropout.
        implementation: 2 (the default) shares one input dropout mask over
            the gates; 1 draws one per gate. Keras uses 1 whenever
            `recurrent_dropout > 0`, and so does this cell. Any other value,
            such as the legacy 0 of old saved configs, acts as 2 and is kept
            as given, as in Keras. The arithmetic is the same either way.
        layer_norm: If `True`, layer-normalise each gate's input and
            recurrent terms and the cell state (Ba et al., 2016), adding the
            weights `input_norm_gamma`, `recurrent_norm_gamma`,
            `cell_norm_gamma` and `cell_norm_beta`. Default `False`.
        initial_state_mode: `"zeros"` (Keras's behaviour) or `"learned"`:
            a trainable initial condition `x_0`, the weights `initial_h`
            and `initial_c`.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: `u_t`, shape `(batch, features)`.
        states: `[h_{t-1}, c_{t-1}]`, each `(batch, units)`.
        training: Whether dropout is active.

    Returns:
        `(h_t, [h_t, c_t])`.

    Example:

    >>> layer = keras.layers.RNN(LSTMCell(4), return_state=True)
    >>> output, h, c = layer(np.zeros((2, 5, 3), "float32"))
    >>> c.shape
    TensorShape([2, 4])
    """

    gates = ("input", "forget", "cell", "output")
    state_names = ("h", "c")
    readout_names = ("input", "forget", "candidate", "output", "cell")
    fused_saved_blocks = 6  # local derivatives of the step, and f
    # Inputs projected gate by gate spare each forward step a split (33-40
    # µs at B=64, H=128) and each backward step a join of the gates'
    # gradients (50 µs): training ran 5% faster at H=128 and 9% at H=512 on
    # 2 Xeon cores. (The GRU's did not: no faster at H=512 and 20-25% slower
    # at H=128, its recurrent matmuls slowed by contention for the cores.)
    fused_input_blocks = True

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )
        self.unit_forget_bias = unit_forget_bias

    def bias_weight_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer

        def forget_bias_one(shape, dtype=None):
            units = self.units
            return ops.concatenate(
                [
                    self.bias_initializer((units,), dtype=dtype),
                    initializers.get("ones")((units,), dtype=dtype),
                    self.bias_initializer((units * 2,), dtype=dtype),
                ]
            )

        return forget_bias_one

    def build_extras(self):
        super().build_extras()
        if self.layer_norm:
            self.cell_norm_gamma = self.add_weight(
                shape=(self.units,), name="cell_norm_gamma", initializer="ones"
            )
            self.cell_norm_beta = self.add_weight(
                shape=(self.units,), name="cell_norm_beta", initializer="zeros"
            )

    def step(self, projected_t, states, recurrent_masks=None):
        h_tm1, c_tm1 = states[0], states[1]
        recurrent = self.recurrent_projection(h_tm1, recurrent_masks)
        z = projected_t + self.normalize_recurrent(recurrent)  # (batch, 4 * units)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        g = self.activation(z_c)
        o = self.recurrent_activation(z_o)
        c = f * c_tm1 + i * g
        c_out = c
        if self.layer_norm:
            c_out = layer_normalize(c, self.cell_norm_gamma, self.cell_norm_beta)
        h = o * self.activation(c_out)
        return h, [h, c], (i, f, g, o, c)

    def joined_input_step(self, dtype, by_gate, batch_known):
        """Inference's step from the raw inputs `u_t` where it runs all
        gates at once on a batch whose size is unknown when traced:
        `[h_{t-1}, u_t] [W_xx; W_xu] + b`, one matmul and a bias that fuses
        into it, and no add of the input and recurrent terms; None
        elsewhere.

        TensorFlow's graph optimiser fuses a matmul, its bias and an add
        into one op ("remapping") only where the add's two shapes are known
        to match. With the batch size known it so fuses the step's add into
        the input projection, and the steps apart ran 1% faster than joined
        (B=64, H=128, 2 AMD EPYC cores, AVX-512); unknown, it cannot, and
        the joined step ran a traced call 6-17% faster (a batch in halves
        at 64 and 128 rows, a bidirectional layer at 64 rows). Gate by
        gate the joined step lost (0.83-0.94x)."""
        if by_gate or batch_known:
            return None
        kernel = ops.concatenate(
            [ops.cast(self.recurrent_kernel, dtype), ops.cast(self.kernel, dtype)], 0
        )
        bias = self.input_bias()
        bias = None if bias is None else ops.cast(bias, dtype)

        def step(u_t, states):
            both = ops.concatenate([states[0], u_t], axis=-1)
            z = self.matmul(both, kernel, bias)
            return self._update(ops.split(z, 4, axis=-1), states[1])[0]

        return step

    def fused_forward(self, projected_t, recurrent, states):
        if len(projected_t) == len(recurrent) == 1:  # one add, one split
            gates = ops.split(projected_t[0] + recurrent[0], 4, axis=-1)
        else:
            pairs = zip(split_gates(projected_t, 4), split_gates(recurrent, 4))
            gates = [x + r for x, r in pairs]
        return self._update(gates, states[1])

    def _update(self, gates, c_tm1):
        """The step from the four gates' pre-activations: the new states
        and the local derivatives that training saves (unused in
        inference, where TensorFlow prunes them)."""
        z_i, z_f, z_c, z_o = gates
        i, f, o = ops.sigmoid(z_i), ops.sigmoid(z_f), ops.sigmoid(z_o)
        g = ops.tanh(z_c)
        c = f * c_tm1 + i * g
        tanh_c = ops.tanh(c)
        h = o * tanh_c
        # The step's local derivatives, for the backward pass.
        d_gates = (
            sigmoid_derivative(i, g),  # dc_t / dz_i
            sigmoid_derivative(f, c_tm1),  # dc_t / dz_f
            tanh_derivative(g, i),  # dc_t / dz_c
            sigmoid_derivative(o, tanh_c),  # dh_t / dz_o
        )
        return [h, c], (*d_gates, tanh_derivative(tanh_c, o), f)

    def fused_backward(self, saved, d_states):
        *d_gates, dh_dc, f = saved
        d_h, d_c = d_states
        d_c = d_c + d_h * dh_dc
        d_i, d_f, d_g, d_o = d_gates
        d_z = [d_c * d_i, d_c * d_f, d_c * d_g, d_h * d_o]
        return d_z, None, [None, d_c * f]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
