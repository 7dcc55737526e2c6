"""The fast path of the sequence layers: projection, then the fused loop.

Inputs are projected (`W_xu u_t + b`) in large matmuls before the recurrence
runs. On a few CPU cores the projection would otherwise sit alone on the
critical path, so where a core would be idle (`overlaps_chunks`) a long
sequence is cut into a few chunks: the recurrence of chunk k runs while
TensorFlow projects chunk k + 1 on another core, and in the backward pass
the input-kernel gradient of one chunk overlaps the recurrence of the
previous one.

Inference with a batch of rows (or, for the gated cells, a batch size not
known when traced) projects inside the loop instead: each step's
small input matmul does not wait on the state, so TensorFlow runs it ahead
on the other core, and the `(time, batch, gates * units)` projection, which
costs memory bandwidth rather than arithmetic, is never written out.
"""

import functools

from keras import ops

from rnnkit.layers import batch_halves
from rnnkit.layers.bptt import fused_recurrence, gate_by_gate
from rnnkit.layers.time_loop import LoopResult, time_major_mask

MAX_CHUNKS = 4  # more chunks add loop start-up costs that outweigh the overlap
MIN_CHUNK_STEPS = 16  # shorter chunks are not worth a loop of their own
# Inference projects inside the loop from this many rows on, when the batch
# size is known when traced. At B=64, T=100, H=128 on 2 cores that ran the
# layers' inference 10-20% faster than projecting first; at B=4 and B=16 the
# two were within the noise; at B=1 the extra ops per step cost more than
# the small projection saves (SimpleRNN 2.1x Keras's speed against 1.7x).
STEP_PROJECTION_MIN_BATCH = 32


def chunk_sizes(time_steps):
    """Near-equal chunk lengths for a static number of time steps."""
    if time_steps is None:
        return None
    count = max(1, min(MAX_CHUNKS, time_steps // MIN_CHUNK_STEPS))
    base, extra = divmod(time_steps, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def overlaps_chunks(cell, rows, training=True, shares_cores=False):
    """Whether to run a long sequence in chunks for `rows` rows (None: not
    known when traced), so that one chunk's projection overlaps another's
    recurrence; `shares_cores` as in `bptt.gate_by_gate`.

    Steps that run gate by gate (`bptt.gate_by_gate`) already keep two
    cores busy with their matmuls, and TensorFlow splits each large
    projection across its intra-op threads; a chunk's loop then costs more
    than the overlap gains. On 2 Xeon cores at B=64, T=100, one chunk
    instead of four trained the GRU 5-11% faster at H=128 (5% slower at
    H=512) and the LSTM 3-5% faster at H=128 and 9% at H=512; in a
    bidirectional layer, whose two loops keep both cores busy, 7% (GRU)
    and 10% (LSTM). With one intra-op thread, though, a projection runs on
    one core, and four chunks trained 3% (LSTM) and 10% (GRU) faster than
    one. The SimpleRNN's serial steps leave a core idle: four chunks
    trained it 13% faster.

    A gated cell's inference on a single row has next to nothing to
    project, and runs in one loop: on 2 AMD EPYC cores (AVX-512) its
    traced call ran the LSTM 2-5% and the GRU 8% faster so (at 8 and 16
    rows chunks still won), and traced in a fifth of the time.
    """
    if rows == 1 and not training and len(cell.gates) > 1:
        return False
    one_thread = batch_halves.pool_threads("intra_op") == 1
    return not gate_by_gate(cell, rows, training, shares_cores) or one_thread


def _split_time(tensor, sizes):
    if sizes is None or len(sizes) == 1:
        return [tensor]
    if tensor is None:
        return [None] * len(sizes)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [tensor[s : s + n] for s, n in zip(starts, sizes)]


def outputs_from_states(sequence, mask_tm, zero_output_for_mask):
    """Keras's masked outputs, from the sequence of first states.

    A masked step repeats the previous output, which is the state `h` of the
    last unmasked step, or zero before any (`zero_output_for_mask`: zero).
    """
    if mask_tm is None:
        return sequence
    if zero_output_for_mask:
        seen = mask_tm
    else:
        seen = ops.cumsum(ops.cast(mask_tm, "int32"), axis=0) > 0
    return ops.where(seen, sequence, ops.zeros_like(sequence))


def run_fused_loop(
    cell,
    inputs,
    initial_states,
    input_masks=None,
    mask=None,
    go_backwards=False,
    return_sequences=False,
    zero_output_for_mask=False,
    training=False,
):
    """Runs a fusable `cell` over the time-major raw `inputs`.

    Takes the arguments of `time_loop.run_time_loop`, except that `inputs` are
    not yet projected and `input_masks` are the input dropout masks.
    Inference may run the two halves of a batch in two loops side by side
    (`rnnkit.layers.batch_halves`).
    """
    run = functools.partial(
        _run_fused_loop,
        cell,
        input_masks=input_masks,
        go_backwards=go_backwards,
        return_sequences=return_sequences,
        zero_output_for_mask=zero_output_for_mask,
        training=training,
    )
    if training or input_masks is not None:
        return run(inputs, initial_states, mask)
    return batch_halves.run_in_halves(run, cell, inputs, initial_states, mask)


def _run_fused_loop(
    cell,
    inputs,
    initial_states,
    mask,
    input_masks,
    go_backwards,
    return_sequences,
    zero_output_for_mask,
    training,
    shares_cores=False,
    rows=None,
):
    # `shares_cores`: this loop runs beside another, on the other half of
    # the batch (`bptt.gate_by_gate`). `rows`: the batch size, where the
    # inputs' shape lacks it but the caller knows it.
    rows = inputs.shape[1] if rows is None else rows
    mask_tm = time_major_mask(mask)
    if go_backwards:
        inputs = ops.flip(inputs, axis=0)
        mask_tm = None if mask_tm is None else ops.flip(mask_tm, axis=0)
    # The state sequence is needed only for all outputs or for masking;
    # without it, the last output is the final state.
    need_sequence = return_sequences or mask_tm is not None
    states, sequences = list(initial_states), []
    if not training and _projects_in_loop(cell, rows, input_masks):
        project = cell.step_projection(inputs.dtype)
        sequence, states = fused_recurrence(
            cell,
            inputs,
            states,
            mask_tm,
            False,
            need_sequence,
            project=project,
            shares_cores=shares_cores,
            rows=rows,
        )
        sequences.append(sequence)
    else:
        chunked = overlaps_chunks(cell, rows, training, shares_cores)
        sizes = chunk_sizes(inputs.shape[0]) if chunked else None
        chunks = zip(_split_time(inputs, sizes), _split_time(mask_tm, sizes))
        for chunk, chunk_mask in chunks:
            by_gate = gate_by_gate(cell, rows, training, shares_cores)
            if cell.fused_input_blocks and by_gate:
                # [(time, batch, units)] * gates
                projected = cell.project_input_blocks(chunk, input_masks)
            else:
                # (time, batch, gates * units)
                projected = cell.project_inputs(chunk, input_masks)
            sequence, states = fused_recurrence(
                cell,
                projected,
                states,
                chunk_mask,
                training,
                need_sequence,
                shares_cores=shares_cores,
                rows=rows,
            )
            sequences.append(sequence)
    if not need_sequence:
        return LoopResult(
            last_output=states[0], outputs=None, states=states, readout=None
        )
    sequence = sequences[0] if len(sequences) == 1 else ops.concatenate(sequences, 0)
    outputs = outputs_from_states(sequence, mask_tm, zero_output_for_mask)
    return LoopResult(
        last_output=outputs[-1],
        outputs=ops.transpose(outputs, (1, 0, 2)) if return_sequences else None,
        states=states,
        readout=None,
    )


def _projects_in_loop(cell, batch, input_masks):
    """Whether inference on `batch` rows (None: unknown when traced) should
    project each step inside the loop."""
    if input_masks is not None:
        return False
    if batch is None:
        # Unknown when traced, as in `predict` and a serving signature. For
        # the gated cells projecting in the loop ran 1.16-1.21x faster at
        # B=64 and within the noise of projecting first at B=1 (Xeon, 2
        # cores); SimpleRNN's step is too small: 25% slower at B=1.
        return len(cell.gates) > 1
    return batch >= STEP_PROJECTION_MIN_BATCH
