"""The time loop of the sequence layers: back-propagation through time runs
backwards through exactly this loop.

Only the recurrent step runs inside it; the input projection `W_xu u_t + b`
was done for all time steps beforehand. The loop is TensorFlow's native
`tf.while_loop` over `TensorArray`s, so graph mode makes no per-step Python
calls, or a Python loop when the user asks for `unroll=True`.

Masking follows Keras: at a masked step the states keep their old values and
the output repeats the previous output (or is zero, with
`zero_output_for_mask`); before the first unmasked step that output is zero.
"""

from dataclasses import dataclass

import tensorflow as tf
from keras import ops

from rnnkit.layers.bptt import PARALLEL_ITERATIONS


@dataclass
class LoopResult:
    last_output: object  # (batch, units)
    outputs: object  # (batch, time, units) in processing order, or None
    states: list  # final states, each (batch, units)
    readout: tuple | None  # per-step step readouts, each (batch, time, units)


def run_time_loop(
    step,
    inputs,
    initial_states,
    mask=None,
    go_backwards=False,
    return_sequences=False,
    zero_output_for_mask=False,
    unroll=False,
    readout_count=0,
):
    """Runs `step` over the time-major `inputs`.

    Args:
        step: `step(input_t, states) -> (output, new_states, readout)`.
        inputs: Time-major `(time, batch, features)` tensor.
        initial_states: List of `(batch, units)` tensors, the `x_0`.
        mask: Optional boolean `(batch, time)` tensor; False steps are skipped.
        go_backwards: Process the sequence from its end; outputs come back in
            processing order, as in Keras.
        return_sequences: Collect the output of every step.
        zero_output_for_mask: Masked steps output zeros instead of repeating.
        unroll: Use a Python loop (static time length only).
        readout_count: How many readout tensors (gate activations) `step`
            returns that should be collected; 0 collects none.

    Returns:
        A `LoopResult`.
    """
    mask_tm = time_major_mask(mask)
    if go_backwards:
        inputs = ops.flip(inputs, axis=0)
        mask_tm = None if mask_tm is None else ops.flip(mask_tm, axis=0)
    run = _unrolled_loop if unroll else _while_loop
    result = run(
        step,
        inputs,
        list(initial_states),
        mask_tm,
        return_sequences,
        zero_output_for_mask,
        readout_count,
    )
    if result.outputs is not None:
        result.outputs = ops.transpose(result.outputs, (1, 0, 2))
    if result.readout is not None:
        result.readout = tuple(ops.transpose(r, (1, 0, 2)) for r in result.readout)
    return result


def time_major_mask(mask):
    """`(batch, time)` mask to boolean `(time, batch, 1)`, or None."""
    if mask is None:
        return None
    return ops.expand_dims(ops.transpose(ops.cast(mask, "bool")), -1)


def _masked_step(
    step, input_t, states, last_output, mask_t, zero_output, readout_count
):
    """One step with Keras masking applied; `mask_t` is `(batch, 1)` or None."""
    output, new_states, readout = step(input_t, states)
    readout = tuple(readout[:readout_count])
    if mask_t is None:
        return output, list(new_states), readout
    fallback = ops.zeros_like(output) if zero_output else last_output
    output = ops.where(mask_t, output, fallback)
    new_states = [ops.where(mask_t, new, old) for new, old in zip(new_states, states)]
    readout = tuple(ops.where(mask_t, r, ops.zeros_like(r)) for r in readout)
    return output, new_states, readout


def _while_loop(
    step, inputs, states, mask_tm, return_sequences, zero_output, readout_count
):
    # A static length, when known, gives TensorFlow fixed-size arrays.
    time_steps = inputs.shape[0] or tf.shape(inputs)[0]

    def tensor_array(like, size=time_steps):
        return tf.TensorArray(like.dtype, size=size, element_shape=like.shape)

    input_ta = tensor_array(inputs[0]).unstack(inputs)
    mask_ta = None if mask_tm is None else tensor_array(mask_tm[0]).unstack(mask_tm)
    # Outputs and readouts all have the shape of the state h_0.
    h0 = states[0]
    output_ta = tensor_array(h0) if return_sequences else ()
    readout_tas = tuple(tensor_array(h0) for _ in range(readout_count))
    last_output = ops.zeros_like(h0)

    def body(t, states, last_output, output_ta, readout_tas):
        mask_t = None if mask_ta is None else mask_ta.read(t)
        output, states, readout = _masked_step(
            step,
            input_ta.read(t),
            states,
            last_output,
            mask_t,
            zero_output,
            readout_count,
        )
        if return_sequences:
            output_ta = output_ta.write(t, output)
        readout_tas = tuple(ta.write(t, r) for ta, r in zip(readout_tas, readout))
        return t + 1, states, output, output_ta, readout_tas

    _, states, last_output, output_ta, readout_tas = tf.while_loop(
        lambda t, *_: t < time_steps,
        body,
        (tf.constant(0), states, last_output, output_ta, readout_tas),
        parallel_iterations=PARALLEL_ITERATIONS,
        maximum_iterations=time_steps,
        swap_memory=True,
    )
    return LoopResult(
        last_output=last_output,
        outputs=output_ta.stack() if return_sequences else None,
        states=list(states),
        readout=tuple(ta.stack() for ta in readout_tas) if readout_count else None,
    )


def _unrolled_loop(
    step, inputs, states, mask_tm, return_sequences, zero_output, readout_count
):
    time_steps = inputs.shape[0]
    if time_steps is None:
        raise ValueError(
            "`unroll=True` needs a fixed number of time steps. Received: "
            f"inputs with shape {tuple(inputs.shape)} (time major). Pass "
            "`shape=(timesteps, features)` to `keras.Input`."
        )
    last_output = ops.zeros_like(states[0])
    outputs, readouts = [], []
    for t in range(time_steps):
        mask_t = None if mask_tm is None else mask_tm[t]
        last_output, states, readout = _masked_step(
            step, inputs[t], states, last_output, mask_t, zero_output, readout_count
        )
        outputs.append(last_output)
        readouts.append(readout)
    return LoopResult(
        last_output=last_output,
        outputs=ops.stack(outputs) if return_sequences else None,
        states=states,
        readout=tuple(ops.stack(r) for r in zip(*readouts)) if readout_count else None,
    )
