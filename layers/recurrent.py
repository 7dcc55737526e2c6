"""The sequence layer that owns the time loop; `SimpleRNN`, `GRU` and `LSTM`
only choose the cell and spell out their arguments."""

import keras
from keras import ops, regularizers

from rnnkit.layers import replica_rows
from rnnkit.layers.fused_loop import run_fused_loop
from rnnkit.layers.time_loop import LoopResult, run_time_loop

CUDNN_CHOICES = ("auto", True, False)
# The names of the two directions that a `keras.layers.Bidirectional` makes.
BIDIRECTIONAL_PREFIXES = ("forward_", "backward_")


def cell_property(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


class Recurrent(keras.layers.Layer):
    """Base class of the rnnkit sequence layers: runs `cell` over time.

    The cell's weights are shared by every time step. Before the loop the
    inputs of all steps are projected at once (`W_xu u_t + b` as one large
    matmul); inside it, only the recurrent term and the gate math run.
    Inference on a batch of `STEP_PROJECTION_MIN_BATCH` rows or more
    projects each step inside the loop instead, off the state's critical
    path (`rnnkit.layers.fused_loop`), and a GRU or LSTM on a larger batch may
    run its two halves in two loops side by side (`rnnkit.layers.batch_halves`).

    Subclasses document the arguments; see `LSTM`.
    """

    units = cell_property("units")
    activation = cell_property("activation")
    use_bias = cell_property("use_bias")
    kernel_initializer = cell_property("kernel_initializer")
    recurrent_initializer = cell_property("recurrent_initializer")
    bias_initializer = cell_property("bias_initializer")
    kernel_regularizer = cell_property("kernel_regularizer")
    recurrent_regularizer = cell_property("recurrent_regularizer")
    bias_regularizer = cell_property("bias_regularizer")
    kernel_constraint = cell_property("kernel_constraint")
    recurrent_constraint = cell_property("recurrent_constraint")
    bias_constraint = cell_property("bias_constraint")
    dropout = cell_property("dropout")
    recurrent_dropout = cell_property("recurrent_dropout")
    initial_state_mode = cell_property("initial_state_mode")

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        activity_regularizer=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.cell = cell
        # `keras.layers.Bidirectional` rebuilds the layer it wraps from its
        # config, named "forward_<name>" and "backward_<name>", and runs the
        # two side by side; the names are all a layer can see of that.
        if self.name.startswith(BIDIRECTIONAL_PREFIXES):
            cell.shares_cores = True
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True
        # Stateful states are not weights (Keras keeps them out of
        # `get_weights()` too), so they bypass the layer's tracking.
        object.__setattr__(self, "states", None)

    @property
    def state_size(self):
        return [self.units] * len(self.cell.state_names)

    # Shapes and masks -----------------------------------------------------

    def _check_rank(self, shape):
        if len(shape) != 3:
            raise ValueError(
                f"Layer '{self.name}' expects `inputs` of shape (batch, "
                f"timesteps, features). Received: inputs.shape={tuple(shape)}"
            )

    def _check_mask(self, sequences, mask):
        if mask is None:
            return None
        mask_shape = tuple(mask.shape)
        if len(mask_shape) == 3 and mask_shape[-1] == 1:
            mask = ops.squeeze(mask, -1)
            mask_shape = mask_shape[:2]
        expected = tuple(sequences.shape[:2])
        fits = len(mask_shape) == 2 and all(
            m is None or e is None or m == e for m, e in zip(mask_shape, expected)
        )
        if not fits:
            raise ValueError(
                f"`mask` must have shape (batch, timesteps) = {expected} to "
                f"match the inputs. Received: mask.shape={mask_shape}"
            )
        return mask

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, time = sequences_shape[0], sequences_shape[1]
        if self.return_sequences:
            output_shape = (batch, time, self.units)
        else:
            output_shape = (batch, self.units)
        if self.return_state:
            return output_shape, *[(batch, self.units) for _ in self.state_size]
        return output_shape

    def compute_mask(self, _, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_size)
        return output_mask

    # Building and state ---------------------------------------------------

    def build(self, sequences_shape, initial_state_shape=None):
        self._check_rank(sequences_shape)
        if not self.cell.built:
            self.cell.build((sequences_shape[0], sequences_shape[2]))
        if self.stateful:
            batch_size = sequences_shape[0]
            if batch_size is None:
                raise ValueError(
                    "`stateful=True` needs a fixed batch size: pass "
                    "`batch_size=` to `keras.Input`. Received: inputs with "
                    f"shape {tuple(sequences_shape)}"
                )
            if self.states is None:
                self._create_states(batch_size)

    def _create_states(self, batch_size):
        # Under tf.distribute each replica carries its rows of the state.
        replicas = replica_rows.replicas_in_sync()
        replica_rows.check_divisible(batch_size, replicas)
        split = replicas > 1
        object.__setattr__(self, "_state_replicas", replicas)
        states = [
            keras.Variable(
                state,
                trainable=False,
                dtype=self.variable_dtype,
                aggregation=replica_rows.STATE_AGGREGATION if split else "none",
                name="rnn_state",
            )
            for state in self.cell.get_initial_state(batch_size)
        ]
        object.__setattr__(self, "states", states)
        # A learned x_0 may change after build (set_weights, loading,
        # training), so the states hold "start from x_0" as a flag rather
        # than a copy of x_0 taken now.
        at_x0 = keras.Variable(
            1.0,
            trainable=False,
            aggregation=replica_rows.FLAG_AGGREGATION if split else "none",
            name="states_at_x0",
        )
        object.__setattr__(self, "_states_at_x0", at_x0)

    def get_initial_state(self, batch_size):
        return self.cell.get_initial_state(batch_size=batch_size)

    def reset_state(self):
        """Resets stateful states to the initial condition `x_0`."""
        if self.states is None:
            return
        batch_size = self.states[0].shape[0]
        for variable, value in zip(self.states, self.get_initial_state(batch_size)):
            variable.assign(value)
        self._states_at_x0.assign(1.0)

    def reset_states(self):
        # Compatibility alias, as in Keras.
        self.reset_state()

    def _initial_states(self, sequences, initial_state, rows=None):
        if initial_state is None:
            if self.stateful:
                return self._stateful_states(rows)
            return self.get_initial_state(ops.shape(sequences)[0])
        states = (
            list(initial_state)
            if isinstance(initial_state, (list, tuple))
            else [initial_state]
        )
        if len(states) != len(self.state_size):
            raise ValueError(
                f"Layer '{self.name}' has {len(self.state_size)} state(s) "
                f"{list(self.cell.state_names)}. Received: initial_state with "
                f"{len(states)} tensor(s)"
            )
        return [ops.cast(s, self.cell.compute_dtype) for s in states]

    def _stateful_states(self, rows=None):
        stored = [ops.convert_to_tensor(v) for v in self.states]
        if rows is not None:
            stored = [rows.read(state) for state in stored]
        if self.initial_state_mode != "learned":
            return stored
        at_x0 = self._states_at_x0 > 0.5
        x0 = self.get_initial_state(stored[0].shape[0])
        return [ops.where(at_x0, a, b) for a, b in zip(x0, stored)]

    def _state_rows(self, sequences):
        """The rows of the stateful states this call reads and writes."""
        self._check_stateful_batch(sequences)
        return replica_rows.RowSlice(
            self.states[0].shape[0], self._state_replicas, sequences.shape[0]
        )

    def _check_stateful_batch(self, sequences):
        batch_size = sequences.shape[0]
        expected = self.states[0].shape[0]
        fits = replica_rows.RowSlice.accepts(batch_size, expected, self._state_replicas)
        if batch_size is not None and not fits:
            raise ValueError(
                "A stateful layer needs the same batch size in every call. "
                f"Expected: {expected}. Received: inputs.shape="
                f"{tuple(sequences.shape)}"
            )

    # The loop ---------------------------------------------------------------

    def _run(
        self, sequences, initial_state, mask, training, readout_count=0, rows=None
    ):
        self._check_rank(sequences.shape)
        mask = self._check_mask(sequences, mask)
        if rows is None and self.stateful and initial_state is None:
            rows = self._state_rows(sequences)
        states = self._initial_states(sequences, initial_state, rows)
        # One dropout mask per sequence, shared by all time steps. Keras draws
        # the masks in inference too, so the seed generator advances in step
        # with Keras's and the same seed gives the same masks.
        input_masks = self.cell.input_dropout_masks(sequences[:, 0, :])
        recurrent_masks = self.cell.recurrent_dropout_masks(states[0])
        if not training:
            input_masks = recurrent_masks = None
        if not training and not readout_count and sequences.shape[1] == 1:
            return self._one_step(sequences[:, 0, :], states, mask)
        inputs = ops.transpose(sequences, (1, 0, 2))  # (time, batch, features)
        if not self.unroll and not readout_count and self.cell.fusable():
            return run_fused_loop(
                self.cell,
                inputs,
                states,
                input_masks=input_masks,
                mask=mask,
                go_backwards=self.go_backwards,
                return_sequences=self.return_sequences,
                zero_output_for_mask=self.zero_output_for_mask,
                training=bool(training),
            )
        projected = self.cell.project_inputs(inputs, input_masks)

        def step(projected_t, states):
            return self.cell.step(projected_t, states, recurrent_masks)

        return run_time_loop(
            step,
            projected,
            states,
            mask=mask,
            go_backwards=self.go_backwards,
            return_sequences=self.return_sequences,
            zero_output_for_mask=self.zero_output_for_mask,
            unroll=self.unroll,
            readout_count=readout_count,
        )

    def _one_step(self, inputs, states, mask):
        """Inference on a single time step, as a decoder takes one token at a
        time: the cell alone, with no loop around it."""
        projected = self.cell.project_inputs(inputs, None)
        output, new_states, _ = self.cell.step(projected, states, None)
        if mask is not None:
            keep = ops.expand_dims(ops.cast(mask[:, 0], "bool"), -1)
            new_states = [ops.where(keep, n, o) for n, o in zip(new_states, states)]
            # As in Keras, a masked first step outputs zeros.
            output = ops.where(keep, output, ops.zeros_like(output))
        outputs = ops.expand_dims(output, 1) if self.return_sequences else None
        return LoopResult(
            last_output=output, outputs=outputs, states=new_states, readout=None
        )

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        rows = self._state_rows(sequences) if self.stateful else None
        result = self._run(sequences, initial_state, mask, training, rows=rows)
        if self.stateful:
            for variable, state in zip(self.states, result.states):
                variable.assign(rows.write(ops.cast(state, variable.dtype)))
            self._states_at_x0.assign(0.0)
        output = result.outputs if self.return_sequences else result.last_output
        if self.return_state:
            return output, *result.states
        return output

    def call_with_states(self, sequences, initial_state=None, mask=None):
        """Runs the layer in inference mode and returns `(output, states)`.

        Like calling the layer, except that the final states come back
        whatever `return_state` says, and stateful states are neither read
        nor advanced. For decoders that carry `x_T` onward, one step at a
        time, with `cell(u_t, states)`.
        """
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        sequences = ops.convert_to_tensor(sequences, dtype=self.compute_dtype)
        if not self.built:
            self.build(tuple(sequences.shape))
        if initial_state is None:
            initial_state = self.get_initial_state(ops.shape(sequences)[0])
        result = self._run(sequences, initial_state, mask, training=False)
        output = result.outputs if self.return_sequences else result.last_output
        return output, result.states

    def gate_activations(self, sequences, mask=None, initial_state=None):
        """Reads the cell's gate activations over a sequence, for diagnostics.

        Runs the layer in inference mode and returns a dict from the names in
        `cell.readout_names` (LSTM: `input`, `forget`, `candidate`, `output`,
        `cell`; GRU: `update`, `reset`, `candidate`; SimpleRNN: `state`) to
        tensors of shape `(batch, timesteps, units)`, aligned with the input
        time steps even when `go_backwards=True`. Masked steps read zero.
        Stateful states are read but not advanced.
        """
        sequences = ops.convert_to_tensor(sequences, dtype=self.compute_dtype)
        if not self.built:
            self.build(tuple(sequences.shape))
        result = self._run(
            sequences,
            initial_state,
            mask,
            training=False,
            readout_count=len(self.cell.readout_names),
        )
        readout = result.readout
        if self.go_backwards:
            readout = [ops.flip(r, axis=1) for r in readout]
        return dict(zip(self.cell.readout_names, readout))

    # Serialisation ------------------------------------------------------------

    def get_config(self):
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
        }
        return {**super().get_config(), **config, **cell_config}


def check_use_cudnn(use_cudnn):
    if use_cudnn not in CUDNN_CHOICES:
        raise ValueError(
            f"`use_cudnn` must be one of {CUDNN_CHOICES}. "
            f"Received: use_cudnn={use_cudnn!r}"
        )
