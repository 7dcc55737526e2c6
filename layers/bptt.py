"""Back-propagation through time, written out by hand.

TensorFlow can differentiate the plain time loop (`time_loop.py`) by itself,
but its backward loop then pushes every intermediate onto a stack and adds
`x_{t-1}^T dz_t` into the recurrent kernel's gradient one small matmul per
step. Here the forward loop saves only what the backward pass needs (the
gate activations and the states), the backward loop runs only the chain
rule of one step and `dz_t W_xx^T`, and the kernel's gradient is one large
matmul over all steps at the end:

    dW_xx = sum_t x_{t-1}^T dz_t = X_prev^T DZ

Cells opt in with `fusable()` and provide the step's forward and backward
math:

- `fused_forward(projected_t, recurrent_t, states)`, where `projected_t`
  is the step's projected inputs and `recurrent_t` is `W_xx x_{t-1}`, each
  a list: one `(batch, units)` block per gate, or the whole
  `(batch, gates * units)` tensor alone where one matmul made it (see
  `gate_by_gate` and `split_gates`), returns
  the new states and the `fused_saved_blocks` tensors of shape
  `(batch, units)` that the backward step needs, each saved in an array of
  its own;
- `fused_backward(saved_t, d_states)`, given that step's saved tensors as a
  list (or, for a cell that saves none, the state `x_t`), returns the
  gradients with respect to the projected input and to the recurrent term
  `W_xx x_{t-1}` (None when it is the same), each as a list of per-gate
  blocks, and the previous states by paths other than `W_xx` (None for
  none). The cell's `fused_separate_recurrent` names the gates whose two
  gradients differ.

The saved tensors are the step's local derivatives, so the backward step is
a few multiplications and one matmul; the forward pass computes them off the
critical path of the recurrence.

Masking is handled here: a masked step copies the state forward, so its
gradient copies backward and its `dz_t` is zero.
"""

import functools

import tensorflow as tf
from keras import ops

from rnnkit.layers import cpu

# How many iterations TensorFlow may overlap. The recurrence is sequential;
# this only lets TensorArray reads and writes run ahead, as Keras also allows.
PARALLEL_ITERATIONS = 32
# Time steps per loop iteration when the length is static. Each iteration of
# a TensorFlow while loop costs a few control-flow ops, comparable with a
# small cell's step. On 2 CPU cores four steps per iteration trained up to 6%
# faster at B=64, H=128 (the GRU level) and 11-35% faster at B=32, H=64;
# eight were no better and slowed the GRU at the larger size
# (benchmarks/loop_unrolling.py).
UNROLL_STEPS = 4
# The recurrent matmul runs gate by gate (see `gate_by_gate`) when its
# output, rows * gates * units, has at least this many entries, or when the
# batch size is not known when traced. On 2 Xeon cores at units=128 the
# LSTM's inference gained from 16 rows on (1.37x Keras's speed against 1.25x
# at 16 rows, 1.10x against 1.17x at 8) and the GRU's from 32.
PER_GATE_MIN_SIZE = 8192


def gate_by_gate(cell, rows, training=True, shares_cores=False):
    """Whether `cell`'s steps work gate by gate for `rows` rows (None: not
    known when traced): one recurrent matmul per gate and, for a cell with
    `fused_input_blocks` (the LSTM), inputs projected before the loop in
    one block per gate. `shares_cores`: the loop runs beside another one,
    as each half of a batch does (`batch_halves`).

    The recurrent matmuls do not depend on each other, so TensorFlow runs
    them side by side on its inter-op threads. One `(64, 128) x (128, 512)`
    matmul ran no faster on two intra-op threads than on one (Xeon, oneDNN),
    and gate by gate an LSTM's step took 110 µs instead of 175 µs in a bare
    loop; with a single row the extra ops cost more than they save.

    A loop that shares the cores with another (each direction of
    `rnnkit.layers.Bidirectional`, each half of a batch) finds no idle core
    for them in inference, where its steps are shortest: on CPUs with
    AVX-512 one matmul for all gates then ran faster, on one with AVX2 only
    slower (`cpu.whole_steps_when_sharing`). In training it made no
    difference beyond the noise.
    """
    gates = len(cell.gates)
    sharing = shares_cores or cell.shares_cores
    if gates == 1 or (sharing and not training and cpu.whole_steps_when_sharing()):
        return False
    return rows is None or rows * gates * cell.units >= PER_GATE_MIN_SIZE


def fused_recurrence(
    cell,
    projected,
    initial_states,
    mask_tm=None,
    training=True,
    need_sequence=True,
    project=None,
    shares_cores=False,
    rows=None,
):
    """Runs `cell` over the time-major `projected` inputs.

    Args:
        cell: A cell whose `fusable()` is True.
        projected: `(time, batch, gates * units)`, the cell's projected
            inputs, or a list of one `(time, batch, units)` block per gate
            (`RecurrentCell.project_input_blocks`).
        initial_states: List of `(batch, units)` tensors.
        mask_tm: Optional boolean `(time, batch, 1)`.
        training: With True, the call is differentiable by hand-written BPTT
            and saves the step's local derivatives; with False, it saves
            nothing.
        need_sequence: Whether to return the state sequence. Training
            records it for the backward pass either way, but returns it only
            if needed (see `_differentiable`).
        project: Inference only: a function from one step's raw inputs
            `(batch, features)` to their projection. `projected` then holds
            the raw inputs, each projected inside the loop.
        shares_cores: Inference only: the loop runs beside another one (see
            `gate_by_gate`).
        rows: Inference only: the batch size where the inputs' shape leaves
            it unknown but the caller knows it (see
            `batch_halves.run_in_halves`), for the step's choices.

    Returns:
        `(sequence, final_states)`: the first state at every step,
        `(time, batch, units)`, masked steps repeating the previous state
        (None without `need_sequence`).
    """
    projected = list(projected) if isinstance(projected, (list, tuple)) else [projected]
    dtype = projected[0].dtype
    kernel = ops.cast(cell.recurrent_kernel, dtype)
    bias = cell.recurrent_bias()
    bias = None if bias is None else ops.cast(bias, dtype)
    if not training:
        loop = _Loop(cell, kernel, bias, mask_tm, False, shares_cores, rows)
        sequence, _, final_states = loop.forward(
            projected, initial_states, save=False, record=need_sequence, project=project
        )
        return sequence, final_states
    if project is not None:
        raise ValueError("Projecting inside the loop is for inference only.")
    has_bias = bias is not None
    differentiable = _differentiable(
        cell, mask_tm, has_bias, len(projected), need_sequence
    )
    outputs = differentiable(
        *projected, kernel, bias if has_bias else ops.zeros((1,)), *initial_states
    )
    if not need_sequence:
        return None, list(outputs)
    sequence, *final_states = outputs
    return sequence, list(final_states)


def _differentiable(cell, mask_tm, has_bias, blocks, with_sequence=True):
    """The fused loop as a function of its `blocks` projected input tensors,
    the recurrent kernel and bias, and the initial states, with BPTT as its
    gradient.

    It returns the final states, after the state sequence `with_sequence`.
    A sequence returned but not used would still get a gradient, a
    `(time, batch, units)` tensor of zeros, which the backward loop would
    slice and add at every step: two ops per step for nothing when a layer
    returns only its last output.
    """

    @tf.custom_gradient
    def fused(*args):
        projected, (kernel, bias) = args[:blocks], args[blocks : blocks + 2]
        initial_states = args[blocks + 2 :]
        loop = _Loop(cell, kernel, bias if has_bias else None, mask_tm)
        sequence, saved, final_states = loop.forward(list(projected), initial_states)

        def grad(*d_outputs):
            d_sequence = d_outputs[0] if with_sequence else None
            d_final_states = d_outputs[1:] if with_sequence else d_outputs
            d_final_states = [
                ops.zeros_like(s) if d is None else d
                for d, s in zip(d_final_states, final_states)
            ]
            d_input, d_kernel, d_bias, d_initial = loop.backward(
                initial_states[0], sequence, saved, d_sequence, d_final_states, blocks
            )
            d_bias = d_bias if has_bias else ops.zeros_like(bias)
            return (*d_input, d_kernel, d_bias, *d_initial)

        outputs = (sequence, *final_states) if with_sequence else tuple(final_states)
        return outputs, grad

    return fused


def _tensor_array(like, size, width=None):
    """A TensorArray of `size` tensors shaped like `like`, with its last axis
    set to `width` if given."""
    shape = like.shape if width is None else (*like.shape[:-1], width)
    return tf.TensorArray(like.dtype, size=size, element_shape=shape)


def _while(step, loop_vars, time_steps):
    """Runs `step` (loop vars -> loop vars) `time_steps` times.

    With a static length, `UNROLL_STEPS` steps run per loop iteration and
    the remainder runs after the loop; a dynamic length runs one per
    iteration.
    """
    unroll = UNROLL_STEPS if isinstance(time_steps, int) else 1
    iterations, remainder = (
        divmod(time_steps, unroll) if unroll > 1 else (time_steps, 0)
    )

    def body(*loop_vars):
        for _ in range(unroll):
            loop_vars = step(*loop_vars)
        return loop_vars

    if not isinstance(iterations, int) or iterations > 0:
        # (A sequence shorter than UNROLL_STEPS, such as a decoder's single
        # step, needs no loop: a While op costs more than the step itself.)
        loop_vars = tf.while_loop(
            lambda *_: True,
            body,
            loop_vars,
            parallel_iterations=PARALLEL_ITERATIONS,
            maximum_iterations=iterations,
            swap_memory=True,
        )
    for _ in range(remainder):
        loop_vars = step(*loop_vars)
    return loop_vars


class _Loop:
    """The forward and backward time loops of one fused call."""

    def __init__(
        self, cell, kernel, bias, mask_tm, training=True, shares_cores=False, rows=None
    ):
        self.cell = cell
        self.training = training
        self.shares_cores = shares_cores  # beside another loop (`gate_by_gate`)
        self.rows = rows  # the batch size, where its tensors' shapes lack it
        self.kernel = kernel  # W_xx, (units, gates * units)
        self.bias = bias  # the GRU's separate recurrent bias, or None
        # W_xx and that bias cut into one block per gate.
        self.gates = len(cell.gates)
        self.kernel_blocks = gate_blocks(kernel, self.gates)
        self.bias_blocks = None if bias is None else gate_blocks(bias, self.gates)
        self.mask_tm = mask_tm  # (time, batch, 1) booleans, or None
        # The gates whose dz for W_xx differs from dz for the inputs (the
        # GRU's candidate).
        self.separate_recurrent = cell.fused_separate_recurrent

    @staticmethod
    def at(sequence, t):
        """Step `t` of a time-major tensor, or None for None.

        Slicing the first axis shares the tensor's memory when the slice is
        aligned, as a `(batch, width)` float32 step is; a `TensorArray`
        unstack would first copy the whole sequence into one tensor per step
        (in a profile of an LSTM at B=64, H=128, 1.5 ms per 25-step chunk).
        """
        return None if sequence is None else sequence[t]

    def forward(self, projected, initial_states, save=True, record=True, project=None):
        """Runs the recurrence over `projected`, a list of time-major tensors
        (one per gate, or one for all); `save` keeps what backward needs,
        `record` keeps the state sequence (always kept when saving), and
        `project`, if given, projects each step's raw inputs (the one
        tensor)."""
        cell = self.cell
        time_steps = projected[0].shape[0] or tf.shape(projected[0])[0]
        readers = [functools.partial(self.at, p) for p in projected]
        if not save:
            # Without `save` no hand-written backward pass follows, and
            # TensorFlow may differentiate this loop itself. The gradient of
            # a slice taken inside a loop is a tensor of the whole sequence's
            # size at every step, so here the inputs are unstacked, whose
            # gradient is one step's size.
            readers = [
                _tensor_array(p[0], time_steps).unstack(p).read for p in projected
            ]
        record = record or save
        save = save and cell.fused_saved_blocks > 0
        states = list(initial_states)
        # A cell may take its raw inputs and state in joined matmuls
        # (`joined_input_step`).
        joined = None
        if project is not None:
            joined = cell.joined_input_step(
                projected[0].dtype,
                by_gate=self.by_gate(states[0]),
                batch_known=states[0].shape[0] is not None,
            )
        output_ta = _tensor_array(states[0], time_steps) if record else ()
        # One array per saved block: a step's blocks are not concatenated,
        # which on the last axis costs more than the step's matmul at
        # B=64, H=128 (about 45 µs for 7 blocks).
        saved_tas = tuple(
            _tensor_array(states[0], time_steps)
            for _ in range(cell.fused_saved_blocks if save else 0)
        )

        def step(t, states, output_ta, saved_tas):
            projected_t = [read(t) for read in readers]
            if joined is not None:
                new_states, saved = joined(projected_t[0], states), ()
            else:
                recurrent = self.recurrent(states[0])
                if project is not None:
                    projected_t = [project(projected_t[0])]
                new_states, saved = cell.fused_forward(projected_t, recurrent, states)
            m = self.at(self.mask_tm, t)
            if m is not None:
                new_states = [ops.where(m, n, o) for n, o in zip(new_states, states)]
            saved_tas = tuple(ta.write(t, s) for ta, s in zip(saved_tas, saved))
            if record:
                output_ta = output_ta.write(t, new_states[0])
            return t + 1, new_states, output_ta, saved_tas

        _, states, output_ta, saved_tas = _while(
            step,
            (tf.constant(0), states, output_ta, saved_tas),
            time_steps,
        )
        sequence = output_ta.stack() if record else None  # (time, batch, units)
        # The saved arrays go to the backward loop as they are: stacking them
        # and unstacking them there would copy every block twice.
        return sequence, saved_tas, states

    def by_gate(self, h):
        """`gate_by_gate` for a batch of states `h`."""
        rows = h.shape[0] if self.rows is None else self.rows
        return gate_by_gate(self.cell, rows, self.training, self.shares_cores)

    def recurrent(self, h):
        """`W_xx x_{t-1}` (plus the recurrent bias) as a list: one
        `(batch, units)` block per gate, or the one product, unsplit, which
        saves a small batch's step a split and three adds (the LSTM's
        call at B=1 ran 1.41x Keras's speed split, 1.67x unsplit)."""
        if not self.by_gate(h):
            recurrent = ops.matmul(h, self.kernel)
            if self.bias is not None:
                recurrent = ops.add(recurrent, self.bias)
            return [recurrent]
        blocks = [ops.matmul(h, k) for k in self.kernel_blocks]
        if self.bias_blocks is None:
            return blocks
        # `ops.add` of a vector is a BiasAdd, which fuses into the matmul.
        return [ops.add(r, b) for r, b in zip(blocks, self.bias_blocks)]

    def backward(self, h0, sequence, saved, d_sequence, d_states, blocks=1):
        """BPTT over the saved steps. With `blocks` > 1 the inputs came in one
        block per gate, and their gradients go back so: each gate's in its own
        array, never joined. Returns `(d_input, d_kernel, d_bias, d_initial)`,
        `d_input` a list of `blocks` time-major tensors."""
        cell, kernel = self.cell, self.kernel
        time_steps = sequence.shape[0] or tf.shape(sequence)[0]
        by_gate = blocks > 1
        separate = self.separate_recurrent

        def read_saved(t):
            if not saved:  # cells that save nothing read the state x_t instead
                return sequence[t]
            return [ta.read(t) for ta in saved]

        width = kernel.shape[-1] // blocks
        input_tas = tuple(_tensor_array(h0, time_steps, width) for _ in range(blocks))
        # Gate by gate, an array for each gate whose recurrent gradient
        # differs; otherwise one for all, if any does.
        recurrent_arrays = len(separate) if by_gate else int(bool(separate))
        recurrent_tas = tuple(
            _tensor_array(h0, time_steps, width) for _ in range(recurrent_arrays)
        )
        # W_xx^T, gate by gate where the forward step went so, and for
        # gradients that stay in blocks.
        if by_gate or gate_by_gate(cell, h0.shape[0]):
            kernel_t = [ops.transpose(k) for k in self.kernel_blocks]
        else:
            kernel_t = [ops.transpose(kernel)]

        def step(t, d_states, input_tas, recurrent_tas):
            # The state at t feeds both the output at t and the step at t + 1.
            # (No gradient reaches the sequence when only the final state is
            # used.)
            if d_sequence is not None:
                d_states = [d_states[0] + d_sequence[t], *d_states[1:]]
            m = self.at(self.mask_tm, t)
            d_new = d_states
            if m is not None:
                d_new = [ops.where(m, d, ops.zeros_like(d)) for d in d_states]
            d_input, d_recurrent, d_prev = cell.fused_backward(read_saved(t), d_new)
            d_recurrent = d_input if d_recurrent is None else d_recurrent
            if by_gate:
                input_parts = d_input
                recurrent_parts = [d_recurrent[g] for g in separate]
            else:
                # The per-gate blocks are joined for the arrays, off the path
                # from one step to the next.
                input_parts = [_join(d_input)]
                recurrent_parts = [_join(d_recurrent)] if separate else []
            # d x_{t-1} = dz_t W_xx^T, plus the cell's other paths, in one sum.
            if len(kernel_t) > 1:
                terms = [ops.matmul(d, k) for d, k in zip(d_recurrent, kernel_t)]
            else:
                whole = recurrent_parts[0] if separate else input_parts[0]
                terms = [ops.matmul(whole, kernel_t[0])]
            terms += [] if d_prev[0] is None else [d_prev[0]]
            d_prev[0] = tf.add_n(terms) if len(terms) > 1 else terms[0]
            if m is not None:
                # A masked step copied the state forward; its gradient copies back.
                d_prev = [
                    dp + ops.where(m, ops.zeros_like(d), d)
                    for dp, d in zip(d_prev, d_states)
                ]
            return (
                t - 1,
                d_prev,
                tuple(ta.write(t, d) for ta, d in zip(input_tas, input_parts)),
                tuple(ta.write(t, d) for ta, d in zip(recurrent_tas, recurrent_parts)),
            )

        _, d_initial, input_tas, recurrent_tas = _while(
            step, (time_steps - 1, list(d_states), input_tas, recurrent_tas), time_steps
        )
        d_input = [ta.stack() for ta in input_tas]  # (time, batch, width) each
        d_recurrent = list(d_input)
        own = [ta.stack() for ta in recurrent_tas]
        for gate, stacked in zip(separate if by_gate else [0], own):
            d_recurrent[gate] = stacked
        # x_{t-1} of every step: the initial state, then all but the last.
        previous = ops.concatenate([ops.expand_dims(h0, 0), sequence[:-1]], axis=0)
        flat_previous = ops.reshape(previous, (-1, kernel.shape[0]))
        flat_d_recurrent = [ops.reshape(d, (-1, width)) for d in d_recurrent]
        # dW_xx = X_prev^T DZ: one large matmul (per block) instead of one per
        # step. (The matmul reads X_prev transposed; an explicit transpose
        # would copy it.)
        d_kernel = _join(
            [
                tf.linalg.matmul(flat_previous, d, transpose_a=True)
                for d in flat_d_recurrent
            ]
        )
        d_bias = _join([ops.sum(d, axis=0) for d in flat_d_recurrent])
        return d_input, d_kernel, d_bias, d_initial


def sigmoid_derivative(s, scale):
    """`scale * s * (1 - s)`: the sigmoid's derivative, given its output `s`,
    times `scale`. One op (TensorFlow's SigmoidGrad) instead of three; the
    steps are short enough that their op count, not their arithmetic, sets
    their cost."""
    return tf.raw_ops.SigmoidGrad(y=s, dy=scale)


def tanh_derivative(t, scale):
    """`scale * (1 - t * t)`: tanh's derivative, given its output `t`, times
    `scale`, in one op (TanhGrad)."""
    return tf.raw_ops.TanhGrad(y=t, dy=scale)


def split_gates(parts, gates):
    """A step's `parts` (a list: one block per gate, or one tensor for all)
    as one `(batch, units)` block per gate."""
    return list(parts) if len(parts) > 1 else gate_blocks(parts[0], gates)


def gate_blocks(weight, gates):
    """`weight`'s last axis cut into one block per gate."""
    return ops.split(weight, gates, axis=-1) if gates > 1 else [weight]


def _join(blocks):
    """Per-gate `(batch, units)` blocks side by side, `(batch, gates * units)`."""
    return ops.concatenate(blocks, axis=-1) if len(blocks) > 1 else blocks[0]
