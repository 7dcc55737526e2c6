"""What the three recurrent cells share: arguments, weights, dropout, `x_0`.

A cell is one step of the state-space model

    x_t = f(W_xx x_{t-1} + W_xu u_t + b)

split in two so that the sequence layers can run it fast:

- `project_inputs(u)` computes `W_xu u + b` for any number of leading axes,
  so a sequence layer projects every time step in one large matmul;
- `step(projected_t, states)` adds the recurrent term `W_xx x_{t-1}` and
  applies the gate math. It is the only work left inside the time loop.

`call()` chains the two, which is the Keras cell contract, so the cells also
run inside `keras.layers.RNN`.
"""

import keras
from keras import activations, constraints, initializers, ops, regularizers

INITIAL_STATE_MODES = ("zeros", "learned")


def get_activation(name, value):
    """`keras.activations.get`, with an error that names the argument."""
    try:
        return activations.get(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Unknown activation for `{name}`. Received: {name}={value!r}"
        ) from error


def check_units(units):
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            f"`units` must be a positive integer. Received: units={units!r}"
        )


def check_rate(name, rate):
    if isinstance(rate, bool) or not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={rate!r}")


def layer_normalize(x, gamma, beta=None, epsilon=1e-3):
    """Normalises the last axis of `x`, then scales by `gamma`, shifts by `beta`."""
    mean = ops.mean(x, axis=-1, keepdims=True)
    variance = ops.var(x, axis=-1, keepdims=True)
    x = (x - mean) * ops.rsqrt(variance + epsilon) * gamma
    return x if beta is None else x + beta


class RecurrentCell(keras.layers.Layer):
    """Base class of the rnnkit cells; see `SimpleRNNCell` for the arguments.

    Subclasses set `gates` (the names of the blocks of the kernel, in weight
    order), `state_names` and `readout_names`, and implement `step`.
    """

    gates = ("state",)
    state_names = ("h",)
    readout_names = ("state",)
    fused_saved_blocks = 1  # see `rnnkit.layers.bptt`
    fused_separate_recurrent = ()  # see `rnnkit.layers.bptt`
    # Whether inputs projected before the loop come in one block per gate
    # where the recurrent matmuls run gate by gate (`project_input_blocks`,
    # `bptt.gate_by_gate`): the LSTM's, in training and in inference that
    # projects before the loop.
    fused_input_blocks = False
    # Whether this cell's loop runs beside another one, which leaves it about
    # one core (`bptt.gate_by_gate`, `batch_halves.may_split`). A
    # bidirectional wrapper's directions set it (`rnnkit.layers.Bidirectional`,
    # `recurrent.BIDIRECTIONAL_PREFIXES`); it is not part of the config.
    shares_cores = False
    # Whether inference with a batch size unknown when traced runs a batch
    # of one row in a branch of its own, traced as a batch of one
    # (`batch_halves.run_in_halves`): the gated cells'.
    single_row_branch = False
    seed_generator_first = False

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
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        initial_state_mode="zeros",
        **kwargs,
    ):
        check_units(units)
        check_rate("dropout", dropout)
        check_rate("recurrent_dropout", recurrent_dropout)
        if initial_state_mode not in INITIAL_STATE_MODES:
            raise ValueError(
                f"`initial_state_mode` must be one of {INITIAL_STATE_MODES}. "
                f"Received: initial_state_mode={initial_state_mode!r}"
            )
        super().__init__(**kwargs)
        self.units = units
        self.activation = get_activation("activation", activation)
        self.use_bias = use_bias
        # Unseeded initializers and seed generators draw their seeds from the
        # global seed as they are created. Creating them in the order of the
        # Keras cell (the seed generator first in SimpleRNNCell, last in the
        # gated cells) makes `keras.utils.set_random_seed` give both libraries
        # the same initial weights.
        if self.seed_generator_first:
            self.seed_generator = keras.random.SeedGenerator(seed)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        if not self.seed_generator_first:
            self.seed_generator = keras.random.SeedGenerator(seed)
        self.initial_state_mode = initial_state_mode

    @property
    def state_size(self):
        sizes = [self.units] * len(self.state_names)
        return sizes[0] if len(sizes) == 1 else sizes

    @property
    def output_size(self):
        return self.units

    @property
    def dropout_mask_count(self):
        """One input mask shared by all gates, or one per gate (Keras's
        `implementation=1`, which Keras forces when `recurrent_dropout > 0`)."""
        return 1

    # Weights ------------------------------------------------------------

    def build(self, input_shape):
        input_dim = input_shape[-1]
        width = self.units * len(self.gates)
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.bias_weight_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.build_extras()
        if self.initial_state_mode == "learned":
            self.learned_states = [
                self.add_weight(
                    shape=(self.units,), name=f"initial_{n}", initializer="zeros"
                )
                for n in self.state_names
            ]

    def bias_shape(self):
        return (self.units * len(self.gates),)

    def bias_weight_initializer(self):
        return self.bias_initializer

    def build_extras(self):
        """Creates optional weights (layer normalisation) after the Keras ones,
        so that the Keras weights keep their order and come first."""

    # The state-space step -------------------------------------------------

    def input_bias(self):
        return self.bias

    def project_inputs(self, inputs, masks=None):
        """`W_xu u + b` for inputs of shape `(batch, features)` or time-major
        `(time, batch, features)`.

        `masks` are input dropout masks of shape `(batch, features)`, one per
        block of the kernel or one for all; with a time axis they broadcast
        over it, so one mask serves the whole sequence (variational dropout).
        """
        bias = self.input_bias()
        bias_add = self.adds_bias_in_bias_add(bias, inputs)
        if masks is None and bias_add and not self.normalizes_inputs:
            return self.matmul(inputs, self.kernel, bias)
        if masks is None:
            projected = self.matmul(inputs, self.kernel)
        else:
            kernels = ops.split(self.kernel, len(masks), axis=1)
            projected = ops.concatenate(
                [
                    self.matmul(inputs * self.broadcast_mask(m, inputs), k)
                    for m, k in zip(masks, kernels)
                ],
                axis=-1,
            )
        projected = self.normalize_inputs(projected)
        if bias is None:
            return projected
        return ops.add(projected, bias) if bias_add else projected + bias

    def project_input_blocks(self, inputs, masks=None):
        """`project_inputs` as a list of one `(..., units)` block per gate,
        each its own matmul with that gate's columns of the kernel and bias:
        for the fused loops' steps, which then neither split their inputs
        into gates nor join the gates' gradients (`fused_input_blocks`).
        Without layer normalisation, which those loops do not run."""
        gates = len(self.gates)
        kernels = ops.split(self.kernel, gates, axis=1)
        bias = self.input_bias()
        biases = [None] * gates if bias is None else ops.split(bias, gates, axis=-1)
        bias_add = self.adds_bias_in_bias_add(bias, inputs)
        if masks is None:
            dropped = [inputs] * gates
        elif len(masks) == 1:  # one mask shared by the gates, applied once
            dropped = [inputs * self.broadcast_mask(masks[0], inputs)] * gates
        else:
            dropped = [inputs * self.broadcast_mask(m, inputs) for m in masks]
        blocks = []
        for x, kernel, gate_bias in zip(dropped, kernels, biases):
            if bias_add:
                blocks.append(self.matmul(x, kernel, gate_bias))
                continue
            block = self.matmul(x, kernel)
            blocks.append(block if gate_bias is None else block + gate_bias)
        return blocks

    @staticmethod
    def adds_bias_in_bias_add(bias, inputs):
        """Whether the projection of `inputs` adds `bias` in a BiasAdd.

        In float32 it does: its gradient sums the rows 4x faster than the
        broadcast add's (an LSTM's 1,600 rows of 512: 160 µs against
        690 µs), and without layer normalisation between them it fuses into
        the matmul. In bfloat16 that gradient would sum in bfloat16, too
        coarsely for the GRU's.
        """
        return bias is not None and inputs.dtype == "float32"

    def step_projection(self, dtype):
        """`u_t -> W_xu u_t + b` for one step's `(batch, features)`, with the
        kernel and bias read once, here, so a loop can call it at every step
        without reading them again: `project_inputs` without dropout."""
        kernel = ops.cast(self.kernel, dtype)
        bias = self.input_bias()
        bias = None if bias is None else ops.cast(bias, dtype)

        def project(inputs):
            projected = self.normalize_inputs(ops.matmul(inputs, kernel))
            # `ops.add` of a vector is a BiasAdd, which fuses into the matmul.
            return projected if bias is None else ops.add(projected, bias)

        return project

    def joined_input_step(self, dtype, by_gate, batch_known):
        """An inference step `(u_t, states) -> new states` that takes the
        raw inputs into its matmuls with the state, or None to project `u_t`
        on its own (`step_projection`) and add the recurrent term to it, as
        here. The fused loops that project each step's inputs ask for one,
        saying whether their steps run gate by gate (`by_gate`) and whether
        the batch size was known when traced (`batch_known`)."""
        return None

    normalizes_inputs = False  # whether `normalize_inputs` does anything

    def normalize_inputs(self, projected):
        return projected

    @staticmethod
    def broadcast_mask(mask, inputs):
        # (batch, features) -> (1, batch, features) for time-major sequences.
        while len(mask.shape) < len(inputs.shape):
            mask = ops.expand_dims(mask, axis=0)
        return mask

    @staticmethod
    def matmul(inputs, kernel, bias=None):
        """`inputs kernel (+ bias)`, with the leading axes of `inputs`
        flattened so that it is one 2-D matmul, which a bias joins."""
        if len(inputs.shape) == 2:
            product = ops.matmul(inputs, kernel)
            return product if bias is None else ops.add(product, bias)
        leading = ops.shape(inputs)[:-1]
        flat = ops.reshape(inputs, (-1, inputs.shape[-1]))
        product = ops.matmul(flat, kernel)
        if bias is not None:
            product = ops.add(product, bias)
        return ops.reshape(product, (*leading, kernel.shape[-1]))

    def recurrent_projection(self, h_tm1, masks=None, kernel=None):
        """`W_xx x_{t-1}`, with one recurrent dropout mask per gate block."""
        kernel = self.recurrent_kernel if kernel is None else kernel
        if masks is None:
            return ops.matmul(h_tm1, kernel)
        kernels = ops.split(kernel, len(masks), axis=1)
        return ops.concatenate(
            [ops.matmul(h_tm1 * m, k) for m, k in zip(masks, kernels)], axis=-1
        )

    def step(self, projected_t, states, recurrent_masks=None):
        """One time step from projected inputs: `(output, new_states, readout)`.

        `readout` is a tuple of `(batch, units)` tensors named by
        `readout_names`: the gate activations, for diagnostics.
        """
        raise NotImplementedError

    # Hand-written BPTT (`rnnkit.layers.bptt`) -----------------------------

    def fusable(self):
        """Whether `fused_forward` / `fused_backward` cover this configuration."""
        return False

    def recurrent_bias(self):
        """A bias added to `W_xx x_{t-1}` alone (the GRU's), or None."""
        return None

    def call(self, inputs, states, training=False):
        nested = isinstance(states, (list, tuple))
        states = list(states) if nested else [states]
        input_masks = recurrent_masks = None
        if training:
            # Run step by step by an outer loop, the cell cannot know where a
            # sequence starts, so it draws fresh masks at every step. The
            # rnnkit sequence layers draw one mask per sequence instead.
            input_masks = self.input_dropout_masks(inputs)
            recurrent_masks = self.recurrent_dropout_masks(states[0])
        projected = self.project_inputs(inputs, input_masks)
        output, new_states, _ = self.step(projected, states, recurrent_masks)
        return output, (new_states if nested else new_states[0])

    # Dropout -----------------------------------------------------------------

    def draw_masks(self, like, rate, count):
        ones = ops.ones_like(like)
        return [
            keras.random.dropout(ones, rate=rate, seed=self.seed_generator)
            for _ in range(count)
        ]

    def input_dropout_masks(self, step_input):
        """Masks of shape `(batch, features)`, or None without dropout."""
        if not self.dropout:
            return None
        return self.draw_masks(step_input, self.dropout, self.dropout_mask_count)

    def recurrent_dropout_masks(self, h):
        if not self.recurrent_dropout:
            return None
        return self.draw_masks(h, self.recurrent_dropout, self.dropout_mask_count)

    # The initial condition x_0 ------------------------------------------------

    def get_initial_state(self, batch_size=None):
        if self.initial_state_mode == "learned":
            return [
                ops.broadcast_to(
                    ops.cast(x0, self.compute_dtype)[None, :],
                    (batch_size, self.units),
                )
                for x0 in self.learned_states
            ]
        return [
            ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
            for _ in self.state_names
        ]

    # Serialisation -------------------------------------------------------------

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "initial_state_mode": self.initial_state_mode,
        }
        return {**super().get_config(), **config}
