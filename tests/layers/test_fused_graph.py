"""What the fused training loops leave out of the graph, by design.

Speed is measured in `benchmarks/`, never here; these tests pin down the
structure that the benchmarks showed to matter, so that a change that
brings back a whole-sequence copy fails here first.
"""

import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnkit import layers as rnnkit_layers
from rnnkit.layers import cpu, fused_loop
from rnnkit.layers.bptt import PER_GATE_MIN_SIZE, UNROLL_STEPS
from rnnkit.layers.fused_loop import STEP_PROJECTION_MIN_BATCH, chunk_sizes

TIME_STEPS = 40


UNITS = 8


def graph_ops(kind, training=True, batch=4, dtype=None, return_sequences=True):
    """Counts of each op type in a traced gradient of a fused layer with
    respect to its weights and inputs: in the whole graph, the while loops'
    bodies included, and in those bodies alone."""
    layer = rnnkit_layers.get_layer(
        kind, UNITS, return_sequences=return_sequences, dtype=dtype
    )
    x = tf.constant(np.ones((batch, TIME_STEPS, 3), "float32"))
    layer(x)

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
        return tape.gradient(y, [x, *layer.trainable_variables])

    return (*op_counts(gradients), layer.cell)


def op_counts(function):
    """Counts of each op type in the traced `tf.function`: in the whole graph,
    the while loops' bodies included, and in those bodies alone."""
    graph_def = function.get_concrete_function().graph.as_graph_def()
    counts = collections.Counter(node.op for node in graph_def.node)
    in_loops = collections.Counter()
    for library_function in graph_def.library.function:
        counts.update(node.op for node in library_function.node_def)
        if "body" in library_function.signature.name:
            in_loops.update(node.op for node in library_function.node_def)
    return counts, in_loops


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_the_fused_loops_neither_unstack_nor_stack_what_they_only_read(kind):
    """Steps are read by slicing the time-major tensors, which shares their
    memory, not by unstacking them into arrays (a copy of the sequence);
    the saved derivatives go from the forward loop to the backward loop in
    their arrays, unstacked. What is stacked is what leaves the loops: per
    chunk, the state sequence and the input gradient (and, for the GRU,
    the separate recurrent gradient)."""
    counts, _, cell = graph_ops(kind)
    assert counts["TensorListFromTensor"] == 0
    chunks = len(chunk_sizes(TIME_STEPS))
    assert chunks == 2
    per_chunk = 2 + int(bool(cell.fused_separate_recurrent))
    assert counts["TensorListStack"] == chunks * per_chunk


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_a_layer_that_returns_its_last_output_reads_no_sequence_gradient(kind):
    """Returning only the last output, a layer leaves the state sequence
    unused, and a sequence returned from the fused loop would still get a
    gradient: a tensor of zeros that every backward step would slice and
    add. The loop returns the sequence only when the layer needs it, so its
    backward steps read one slice fewer each (the 40 steps run in two
    chunks of five iterations of `UNROLL_STEPS`)."""
    _, with_sequences, _ = graph_ops(kind, return_sequences=True)
    _, last_only, _ = graph_ops(kind, return_sequences=False)
    backward_loops = len(chunk_sizes(TIME_STEPS))
    saved = with_sequences["StridedSlice"] - last_only["StridedSlice"]
    assert saved == backward_loops * UNROLL_STEPS


@pytest.mark.parametrize("batch", [4, STEP_PROJECTION_MIN_BATCH])
@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_a_gradient_through_inference_does_not_slice_inside_the_loop(kind, batch):
    """In inference TensorFlow differentiates the loop itself (for a saliency
    map, say). The gradient of a slice taken inside a loop would be a
    tensor of the whole sequence's size at every step, so the inputs that
    the loop reads, projected or raw (`batch` at the threshold), are
    unstacked instead."""
    counts, in_loops, _ = graph_ops(kind, training=False, batch=batch)
    assert in_loops["StridedSliceGrad"] == 0
    assert counts["TensorListFromTensor"] > 0


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_a_large_batch_runs_the_recurrent_matmul_gate_by_gate(kind, monkeypatch):
    """From `PER_GATE_MIN_SIZE` outputs on, each step of both loops runs one
    recurrent matmul per gate (which TensorFlow runs side by side) instead
    of one for all gates; below it, one. (Both in chunks here, so that
    their loops compare one to one.)"""
    monkeypatch.setattr(fused_loop, "overlaps_chunks", lambda *_: True)
    gates = 3 if kind == "gru" else 4
    _, few_rows, _ = graph_ops(kind, batch=4)
    assert 4 * gates * UNITS < PER_GATE_MIN_SIZE
    many = -(-PER_GATE_MIN_SIZE // (gates * UNITS))
    _, many_rows, _ = graph_ops(kind, batch=many)
    assert few_rows["MatMul"] > 0
    assert many_rows["MatMul"] == gates * few_rows["MatMul"]


def inference_loop_ops(kind, batch):
    """Counts of each op type in the while loops' bodies of a fused layer's
    traced inference on `batch` rows."""
    layer = rnnkit_layers.get_layer(kind, UNITS, return_sequences=True)
    x = tf.constant(np.ones((batch, TIME_STEPS, 3), "float32"))
    layer(x)
    return op_counts(tf.function(lambda: layer(x)))[1]


def test_gate_by_gate_gru_inference_joins_its_inputs_and_state(monkeypatch):
    """Inference on rows enough to project in the loop and run gate by gate
    takes the GRU's raw inputs into the step's matmuls with the state: per
    step one ConcatV2 of `h_{t-1}` and `u_t`, two matmuls for the update
    and reset gates, one each for the candidate's input and recurrent
    terms, and no Split of a projection. The LSTM splits its projection."""
    # The whole batch in one loop (each half would have too few rows to
    # run gate by gate).
    monkeypatch.setattr(fused_loop.batch_halves, "MIN_HALF_ROWS", 1 << 30)
    rows = max(STEP_PROJECTION_MIN_BATCH, -(-PER_GATE_MIN_SIZE // (3 * UNITS)))
    in_loops = inference_loop_ops("gru", rows)
    steps = in_loops["Tanh"]  # the candidate's
    assert steps > 0
    assert in_loops["ConcatV2"] == steps
    assert in_loops["MatMul"] == 4 * steps
    assert in_loops["Split"] == 0
    rows = max(STEP_PROJECTION_MIN_BATCH, -(-PER_GATE_MIN_SIZE // (4 * UNITS)))
    in_loops = inference_loop_ops("lstm", rows)
    assert in_loops["ConcatV2"] == 0
    assert in_loops["Split"] == in_loops["Tanh"] // 2 > 0  # two tanh per step


def test_a_large_batch_lstm_trains_with_the_gates_kept_apart():
    """From `PER_GATE_MIN_SIZE` outputs on, training projects the LSTM's
    inputs in one block per gate, so no step splits its inputs into gates
    or joins their gradients: the forward steps have no Split and the
    backward steps no ConcatV2, and each gate's input gradient leaves its
    loop in an array of its own. Below the threshold the steps split and
    join."""
    many = -(-PER_GATE_MIN_SIZE // (4 * UNITS))
    counts, in_loops, _ = graph_ops("lstm", batch=many)
    assert in_loops["MatMul"] > 0
    assert in_loops["Split"] == in_loops["ConcatV2"] == 0
    assert counts["TensorListStack"] == 1 + 4  # in one chunk: see below
    _, few_rows, _ = graph_ops("lstm", batch=4)
    assert few_rows["Split"] > 0
    assert few_rows["ConcatV2"] > 0


def test_a_large_batch_gru_trains_with_its_inputs_whole():
    """The GRU's steps join their gradients at any batch size: its inputs
    in blocks trained 20% slower at B=64, H=128 (see `fused_input_blocks`).
    Per chunk, the state sequence, the input gradient and the separate
    recurrent gradient leave the loops."""
    many = -(-PER_GATE_MIN_SIZE // (3 * UNITS))
    counts, in_loops, _ = graph_ops("gru", batch=many)
    assert in_loops["ConcatV2"] > 0
    assert counts["TensorListStack"] == 3  # in one chunk: see below


def loops(counts):
    return counts["While"] + counts["StatelessWhile"]


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_steps_that_keep_the_cores_busy_run_the_sequence_in_one_chunk(
    kind, monkeypatch
):
    """Gate-by-gate steps run a long sequence in one forward and one backward
    loop: their matmuls already keep two cores busy, and chunks cost more
    than their overlap gains (`fused_loop.overlaps_chunks`). Smaller steps,
    the SimpleRNN's, or any step with one intra-op thread run in chunks."""
    chunks = len(chunk_sizes(TIME_STEPS))
    assert chunks == 2
    many = -(-PER_GATE_MIN_SIZE // UNITS)
    gated = kind != "rnn"
    assert loops(graph_ops(kind, batch=4)[0]) == 2 * chunks
    assert loops(graph_ops(kind, batch=many)[0]) == (2 if gated else 2 * chunks)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    assert loops(graph_ops(kind, batch=many)[0]) == 2 * chunks


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_a_single_row_infers_in_one_loop(kind):
    """Inference on one row projects next to nothing, so the gated cells run
    the sequence in one loop instead of chunks (`overlaps_chunks`); more
    rows, and the SimpleRNN's single row, run in chunks."""
    chunks = len(chunk_sizes(TIME_STEPS))
    assert chunks == 2
    gated = kind != "rnn"
    one_row = rnnkit_layers.get_layer(kind, UNITS)
    x = tf.constant(np.ones((1, TIME_STEPS, 3), "float32"))
    counts, _ = op_counts(tf.function(lambda: one_row(x)))
    assert loops(counts) == (1 if gated else chunks)
    x = tf.constant(np.ones((2, TIME_STEPS, 3), "float32"))
    counts, _ = op_counts(tf.function(lambda: one_row(x)))
    assert loops(counts) == chunks


def test_a_small_batch_lstm_step_splits_its_gates_once():
    """Below the per-gate threshold the recurrent product stays whole and is
    added to the projected inputs before the one split into gates: a split
    of each and four adds cost the LSTM's traced call at B=1 about 15%.
    Each forward step has one split and one matmul, each backward step one
    matmul."""
    _, in_loops, _ = graph_ops("lstm", batch=4)
    assert in_loops["MatMul"] > 0
    assert 2 * in_loops["Split"] == in_loops["MatMul"]


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_each_local_derivative_is_one_op(kind):
    """`s (1 - s) x` and `(1 - t^2) x` are one SigmoidGrad or TanhGrad each
    rather than three ops: the steps' cost is in their op count. Every
    sigmoid and tanh of a step has its derivative so (the SimpleRNN's in
    the backward step)."""
    _, in_loops, _ = graph_ops(kind)
    assert in_loops["Tanh"] > 0
    assert in_loops["SigmoidGrad"] == in_loops["Sigmoid"]
    assert in_loops["TanhGrad"] == in_loops["Tanh"]
    assert in_loops["Square"] == 0


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_the_float32_projection_adds_its_bias_in_a_bias_add(kind):
    """In float32 the bias of the inputs' projection is a BiasAdd on the 2-D
    matmul, which fuses into it, and whose gradient is a BiasAddGrad, one
    per chunk. In bfloat16 it is a plain add: BiasAddGrad would sum the
    rows in bfloat16 (see the mixed_bfloat16 parity test)."""
    chunks = len(chunk_sizes(TIME_STEPS))
    counts, _, _ = graph_ops(kind)
    assert counts["BiasAddGrad"] == chunks
    counts, _, _ = graph_ops(kind, dtype="mixed_bfloat16")
    assert counts["BiasAddGrad"] == 0


def bidirectional_loop_matmuls(wrapper, kind, training):
    """MatMul ops in the loops of a traced bidirectional `wrapper` around
    rnnkit's `kind`, on rows enough to run gate by gate: its output in
    inference, its gradient in training."""
    rows = -(-PER_GATE_MIN_SIZE // UNITS)
    layer = wrapper(rnnkit_layers.get_layer(kind, UNITS, return_sequences=True))
    x = tf.constant(np.ones((rows, TIME_STEPS, 3), "float32"))
    layer(x)

    @tf.function
    def run():
        if not training:
            return layer(x)
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
        return tape.gradient(y, layer.trainable_variables)

    _, in_loops = op_counts(run)
    return in_loops["MatMul"]


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_bidirectional_inference_multiplies_all_gates_at_once(kind, monkeypatch):
    """Under either wrapper the two directions' loops share the cores, so on
    a CPU with AVX-512 each inference step runs one recurrent matmul for all
    its gates instead of one per gate; with AVX2 only, and in training, it
    runs gate by gate (`cpu.whole_steps_when_sharing`)."""
    # With AVX2 the layers could also run their batch in two halves
    # (`batch_halves`), doubling its loops; here they run it whole.
    monkeypatch.setattr(fused_loop.batch_halves, "MIN_HALF_ROWS", 1 << 30)
    gates = 3 if kind == "gru" else 4
    keras_wrapper = keras.layers.Bidirectional
    wrappers = (rnnkit_layers.Bidirectional, keras_wrapper)
    matmuls = {}
    for avx512 in (False, True):
        monkeypatch.setattr(cpu, "whole_steps_when_sharing", lambda on=avx512: on)
        matmuls[avx512] = [bidirectional_loop_matmuls(w, kind, False) for w in wrappers]
    # Each step also projects its inputs in one matmul (many rows).
    steps = matmuls[False][0] // (1 + gates)
    assert steps > 0
    assert matmuls[False] == [steps * (1 + gates)] * 2
    # All gates at once: the LSTM's recurrent matmul and projection; the
    # GRU's `[h_{t-1}, u_t]` for its update and reset gates and the
    # candidate's two terms (`GRUCell.joined_input_step`).
    assert matmuls[True] == [steps * (3 if kind == "gru" else 2)] * 2
    ours = bidirectional_loop_matmuls(rnnkit_layers.Bidirectional, kind, True)
    assert ours == bidirectional_loop_matmuls(keras_wrapper, kind, True)
