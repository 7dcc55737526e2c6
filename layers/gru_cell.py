import keras
from keras import ops

from rnnkit.layers.bptt import (
    gate_blocks,
    sigmoid_derivative,
    split_gates,
    tanh_derivative,
)
from rnnkit.layers.gated_cell import GatedCell


@keras.saving.register_keras_serializable(package="rnnkit")
class GRUCell(GatedCell):
    """One step of the GRU: a single state `x_t = h_t` with two gates.

    With the inputs `u_t` projected by `kernel` (`W_xu`) and `h_{t-1}` by
    `recurrent_kernel` (`W_xx`), in the gate order `z, r, h`:

        z = σ(.)                          the update gate
        r = σ(.)                          the reset gate
        ĥ = tanh(W_xu u_t + r * (W_xx h_{t-1}))        (reset_after=True)
        ĥ = tanh(W_xu u_t + W_xx (r * h_{t-1}))        (reset_after=False)
        h_t = z * h_{t-1} + (1 - z) * ĥ

    The update gate mixes the old state and the candidate, a valve on how much
    of the gradient flows straight back in time. There is no separate cell
    state, so a GRU has three weight blocks to the LSTM's four. The same
    weights serve every time step.

    A drop-in replacement for `keras.layers.GRUCell`: same arguments,
    weights and numbers. Run it over a sequence with `rnnkit.layers.GRU`,
    which is faster, or inside `keras.layers.RNN`.

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
        kernel_constraint, recurrent_constraint, bias_constraint:
            Constraints for the three weights. Default `None`.
        dropout: Fraction in [0, 1) of the inputs to drop. Default 0.
        recurrent_dropout: Fraction in [0, 1) of `h_{t-1}` to drop in the
            recurrent term. Default 0.
        reset_after: Apply the reset gate after the recurrent matmul (`True`,
            the default and cuDNN's convention, with a `(2, 3 * units)` bias
            holding separate input and recurrent biases) or before it
            (`False`, the original GRU, with a `(3 * units,)` bias).
        seed: Random seed for dropout.
        implementation: 2 (the default) shares one input dropout mask over
            the gates; 1 draws one per gate, as Keras does whenever
            `recurrent_dropout > 0`. Any other value, such as the legacy 0 of
            old saved configs, acts as 2 and is kept as given, as in Keras.
            The arithmetic is the same either way.
        layer_norm: If `True`, layer-normalise each gate's input and
            recurrent terms (Ba et al., 2016), adding the weights
            `input_norm_gamma` and `recurrent_norm_gamma`. Default `False`.
        initial_state_mode: `"zeros"` (Keras's behaviour) or `"learned"`:
            a trainable initial condition `x_0`, the weight `initial_h`.
        **kwargs: Base layer arguments such as `name` and `dtype`.

    Call arguments:
        inputs: `u_t`, shape `(batch, features)`.
        states: `[h_{t-1}]` (or the bare tensor), shape `(batch, units)`.
        training: Whether dropout is active.

    Returns:
        `(h_t, new_states)`, `new_states` in the structure of `states`.

    Example:

    >>> layer = keras.layers.RNN(GRUCell(4))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    TensorShape([2, 4])
    """

    gates = ("update", "reset", "candidate")
    state_names = ("h",)
    readout_names = ("update", "reset", "candidate")
    fused_saved_blocks = 5  # the step's local derivatives, and z
    # The candidate's gradient for W_xx differs from its inputs': the reset
    # gate scales W_xx h_{t-1}.
    fused_separate_recurrent = (2,)

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        reset_after=True,
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
        self.reset_after = reset_after

    def bias_shape(self):
        # reset_after keeps separate input and recurrent biases, as cuDNN does.
        width = self.units * 3
        return (2, width) if self.reset_after else (width,)

    def input_bias(self):
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def step(self, projected_t, states, recurrent_masks=None):
        h_tm1 = states[0]
        x_z, x_r, x_h = ops.split(projected_t, 3, axis=-1)
        if self.reset_after:
            recurrent = self.normalize_recurrent(
                self.recurrent_projection(h_tm1, recurrent_masks)
            )
            if self.use_bias:
                recurrent = recurrent + self.bias[1]
            r_z, r_r, r_h = ops.split(recurrent, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            zr_masks = None if recurrent_masks is None else recurrent_masks[:2]
            h_masks = None if recurrent_masks is None else recurrent_masks[2:]
            kernel_zr = self.recurrent_kernel[:, : 2 * self.units]
            kernel_h = self.recurrent_kernel[:, 2 * self.units :]
            recurrent = self.normalize_recurrent(
                self.recurrent_projection(h_tm1, zr_masks, kernel_zr)
            )
            r_z, r_r = ops.split(recurrent, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            r_h = self.normalize_recurrent(
                self.recurrent_projection(r * h_tm1, h_masks, kernel_h),
                first_gate=2,
            )
            candidate = self.activation(x_h + r_h)
        h = z * h_tm1 + (1 - z) * candidate
        return h, [h], (z, r, candidate)

    def fusable(self):
        return self.reset_after and super().fusable()

    def recurrent_bias(self):
        return self.bias[1] if self.use_bias else None

    def fused_forward(self, projected_t, recurrent, states):
        x_z, x_r, x_h = split_gates(projected_t, 3)
        r_z, r_r, r_h = split_gates(recurrent, 3)
        return self._update(states[0], x_z + r_z, x_r + r_r, x_h, r_h)

    def joined_input_step(self, dtype, by_gate, batch_known):
        """Inference's step from the raw inputs `u_t`, with `h_{t-1}` and
        `u_t` side by side in the update and reset gates' matmuls:
        `[h_{t-1}, u_t] [W_xx; W_xu] + b`, one matmul per gate where the
        steps go gate by gate (`by_gate`), one for both gates where they
        run all gates at once in a direction of a bidirectional layer
        (`shares_cores`); None elsewhere.

        That step has no split of a projection and no adds of the input
        and recurrent terms. At B=64, H=128 on 2 AMD EPYC cores with
        AVX-512, gate by gate, the GRU's traced call ran 8% faster than
        projecting `u_t` on its own (median of ten runs; 17% with the
        batch size unknown when traced), `benchmarks/layers.py`'s
        inference 5% (README "Inputs and state in one matmul"); all gates
        at once, a bidirectional layer's traced call 7-16% faster at 32 to
        192 rows (H=128, and 8% at H=256), but the halves of a batch of
        192 rows 0.90-1.00x. The candidate's two terms stay apart, as the
        reset gate scales only the recurrent one.
        """
        if not (by_gate or self.shares_cores):
            return None

        def blocks(weight):
            """`weight` in `dtype`, one block per gate; None for None."""
            if weight is None:
                return [None] * 3
            return gate_blocks(ops.cast(weight, dtype), 3)

        kernels = blocks(self.kernel)
        recurrent_kernels = blocks(self.recurrent_kernel)
        biases = blocks(self.input_bias())
        recurrent_biases = blocks(self.recurrent_bias())
        # [W_xx; W_xu] of the update and reset gates, and their two biases
        # as one.
        joined = [
            ops.concatenate([recurrent_kernels[g], kernels[g]], 0) for g in (0, 1)
        ]
        joined_biases = [
            None if b is None else ops.add(b, r)
            for b, r in zip(biases[:2], recurrent_biases[:2])
        ]
        if not by_gate:  # both gates in one matmul, split after it
            joined = [ops.concatenate(joined, 1)]
            if joined_biases[0] is not None:
                joined_biases = [ops.concatenate(joined_biases, 0)]

        def step(u_t, states):
            h_tm1 = states[0]
            both = ops.concatenate([h_tm1, u_t], axis=-1)
            z_r = [self.matmul(both, k, b) for k, b in zip(joined, joined_biases)]
            z_in, r_in = ops.split(z_r[0], 2, axis=-1) if len(z_r) == 1 else z_r
            x_h = self.matmul(u_t, kernels[2], biases[2])
            r_h = self.matmul(h_tm1, recurrent_kernels[2], recurrent_biases[2])
            return self._update(h_tm1, z_in, r_in, x_h, r_h)[0]

        return step

    def _update(self, h_tm1, z_in, r_in, x_h, r_h):
        """The step from the gates' pre-activations: the new states and the
        local derivatives that training saves (unused in inference, where
        TensorFlow prunes them)."""
        z = ops.sigmoid(z_in)
        r = ops.sigmoid(r_in)
        candidate = ops.tanh(x_h + r * r_h)
        # z h_{t-1} + (1 - z) candidate, in three ops instead of four, with
        # the difference that dh_t / dz needs anyway (in training, four
        # instead of five with 1 - z): a step one op shorter ran the GRU's
        # inference 3-5% faster and its training 3-4% (2 Xeon cores, B=64,
        # H=128).
        change = h_tm1 - candidate
        h = candidate + z * change
        # The step's local derivatives dh_t / d(pre-activation), for backward.
        d_candidate = tanh_derivative(candidate, 1 - z)
        d_z = sigmoid_derivative(z, change)
        d_r = sigmoid_derivative(r, d_candidate * r_h)
        # d_candidate serves the inputs' path, d_candidate * r the path of
        # W_xx h_{t-1} (which the reset gate scales), and z is dh_t / dh_{t-1}
        # by the direct path.
        return [h], (d_z, d_r, d_candidate, d_candidate * r, z)

    def fused_backward(self, saved, d_states):
        d_h = d_states[0]
        d_z, d_r, d_candidate, d_candidate_recurrent, z = saved
        d_gates = [d_h * d_z, d_h * d_r]
        d_input = [*d_gates, d_h * d_candidate]
        d_recurrent = [*d_gates, d_h * d_candidate_recurrent]
        return d_input, d_recurrent, [d_h * z]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
