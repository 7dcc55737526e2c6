"""What the fused training loops leave out of the graph, by design.

Speed is measured in `benchmarks/`, never here; these tests pin down the
structure that the benchmarks showed to matter, so that a change that
brings back a whole-sequence copy fails here first.
"""

import collections

import numpy as np
import pytest
import tensorflow as tf

from rnnkit import layers as rnnkit_layers
from rnnkit.layers.fused_loop import chunk_sizes

TIME_STEPS = 40


def training_graph_ops(kind):
    """Counts of each op type in a traced gradient of a fused layer,
    including the while loops' bodies."""
    layer = rnnkit_layers.get_layer(kind, 8, return_sequences=True)
    x = tf.constant(np.ones((4, TIME_STEPS, 3), "float32"))
    layer(x)

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
        return tape.gradient(y, layer.trainable_variables)

    graph_def = gradients.get_concrete_function().graph.as_graph_def()
    counts = collections.Counter(node.op for node in graph_def.node)
    for function in graph_def.library.function:
        counts.update(node.op for node in function.node_def)
    return counts, layer.cell


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_the_fused_loops_neither_unstack_nor_stack_what_they_only_read(kind):
    """Steps are read by slicing the time-major tensors, which shares their
    memory, not by unstacking them into arrays (a copy of the sequence);
    the saved derivatives go from the forward loop to the backward loop in
    their arrays, unstacked. What is stacked is what leaves the loops: per
    chunk, the state sequence and the input gradient (and, for the GRU,
    the separate recurrent gradient)."""
    counts, cell = training_graph_ops(kind)
    assert counts["TensorListFromTensor"] == 0
    chunks = len(chunk_sizes(TIME_STEPS))
    assert chunks == 2
    per_chunk = 2 + int(cell.fused_separate_recurrent)
    assert counts["TensorListStack"] == chunks * per_chunk
