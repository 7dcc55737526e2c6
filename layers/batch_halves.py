"""Inference on two halves of the batch, in two loops side by side.

A recurrent step at B=64, H=128 is a chain of small ops, each waiting on the
last, so one core runs it while the other mostly waits. The rows of a batch
never meet in the recurrence, so the batch can be cut in two and each half
run by a loop of its own: TensorFlow runs the two loops at once, one per
core, and each step's matmul is half the size. Each half's loop runs
beside the other, which on a CPU with AVX-512 makes its steps run all gates
at once (`bptt.gate_by_gate`, `cpu.whole_steps_when_sharing`).

Training keeps one loop. Halving it gained nothing beyond the noise on the
AVX2 EPYC (GRU 1%, LSTM 6%, one run) and for the LSTM and SimpleRNN on the
AVX-512 one, where it trained the GRU 4-15% faster (B=64 to 128, H=128 and
256). But `fit` traces with the batch size unknown, and both ways of
choosing at run time cost more than that: a `tf.cond`, differentiated,
added 1.7 s to a GRU's first `fit`, and an empty second loop beside the
whole batch slowed batches of 16 and 32 rows by 12% and 4% (see the
README's "Training in halves").

Measured with `benchmarks/layers.py`'s shapes on 2 AMD EPYC cores (AVX2),
gate by gate, halves against the whole batch, same process, interleaved:
at B=64, H=128 the GRU's and LSTM's inference ran 8-19% faster (`predict`)
and 13-30% faster (a traced call); at B=128 20-30% faster. Halves of fewer
than 32 rows ran 3-9% slower (B=32), and so did halves whose recurrent
product is large (GRU and LSTM at H=512, B=64: 12-15% slower; both cores
are then busy with each step's matmuls). With a single inter-op thread the
loops cannot run side by side: 7-18% slower. Below those bounds, or where
TensorFlow has one thread in either pool or the process one core, the
batch runs whole, and so, mostly, does a direction of a bidirectional layer
(see `may_split`). On an AMD EPYC with AVX-512, halves whose steps ran all
gates at once ran the LSTM's inference at B=64, H=128 1.58-1.60x Keras's
speed, against 1.44x gate by gate, but the GRU's, whose halves are smaller,
slower than the whole batch (`MIN_WHOLE_STEP_HALF_SIZE`).
"""

import os

import tensorflow as tf
from keras import ops

from rnnkit.layers import cpu
from rnnkit.layers.time_loop import LoopResult

MIN_HALF_ROWS = 32  # smaller halves add more ops than they take off the path
# The most entries, rows * gates * units, of a half's recurrent product:
# above it each step's matmuls keep the cores busy by themselves.
MAX_HALF_SIZE = 32768
# The fewest entries of a half's recurrent product where a half's steps run
# all gates at once (`cpu.whole_steps_when_sharing`). On the AVX-512 EPYC,
# at B=64, H=128, the LSTM's halves (16,384 entries) ran 1.58-1.60x Keras's
# speed against 1.50-1.53x whole, but the GRU's (12,288) 1.20-1.26x against
# 1.32-1.37x whole; at B=128 the GRU's halves ran as fast as the whole.
MIN_WHOLE_STEP_HALF_SIZE = 16384


def pool_threads(pool):
    """TensorFlow's `"intra_op"` or `"inter_op"` thread pool size as set in
    `tf.config` or the environment, or 0 for its default (one thread per
    core)."""
    configured = getattr(tf.config.threading, f"get_{pool}_parallelism_threads")()
    if configured:
        return configured
    variable = f"TF_NUM_{pool.replace('_', '').upper()}_THREADS"
    try:
        return int(os.environ.get(variable, "0"))
    except ValueError:  # TensorFlow itself ignores a malformed value
        return 0


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def may_split(cell):
    """Whether `cell`'s inference could run in two loops at all: not where
    there is one core or one thread to run them, nor where its loop already
    runs beside another (`cell.shares_cores`: a direction of a bidirectional
    layer) unless a gated cell's steps there go gate by gate (AVX2 only,
    `cpu.whole_steps_when_sharing`).

    Beside another direction, halves ran a SimpleRNN 14-18% slower on the
    AVX2 EPYC and 15% on the AVX-512 one, and the GRU and LSTM 5-7% faster
    gate by gate (AVX2) but 7-9% slower with all gates at once (AVX-512).
    Alone, a SimpleRNN ran from 3% slower to 15% faster in halves at B=64
    and 47-57% faster at B=128 (AVX2), 37% and 33% faster (AVX-512).
    """
    one_thread = 1 in (pool_threads("intra_op"), pool_threads("inter_op"))
    if one_thread or _cores() < 2:
        return False
    if not cell.shares_cores:
        return True
    gated = len(cell.gates) > 1
    return gated and not cpu.whole_steps_when_sharing()


def splits(cell, rows):
    """Whether a batch of `rows` rows (an int, or a scalar tensor when the
    batch size is not known when traced) runs in two halves."""
    half = rows // 2
    size = half * len(cell.gates) * cell.units
    gated = len(cell.gates) > 1
    least = MIN_WHOLE_STEP_HALF_SIZE if gated and cpu.whole_steps_when_sharing() else 0
    bounds = [half >= MIN_HALF_ROWS, size >= least, size <= MAX_HALF_SIZE]
    if isinstance(rows, int):
        return all(bounds)
    return tf.reduce_all(tf.stack(bounds))


def run_in_halves(run, cell, inputs, initial_states, mask):
    """`run(inputs, initial_states, mask)` -> `LoopResult`, on the whole
    time-major `inputs` or on each half of their rows, as `splits` decides;
    when the batch size is known only at run time, a `tf.cond` decides,
    and for a cell with `single_row_branch` another one runs a batch of one
    row as if its size had been known (a serving request, say)."""
    rows = inputs.shape[1]
    if rows is None and cell.single_row_branch:
        return _cond(
            tf.equal(tf.shape(inputs)[1], 1),
            lambda: run(inputs, initial_states, mask, rows=1),
            lambda: _whole_or_halves(run, cell, inputs, initial_states, mask),
        )
    return _whole_or_halves(run, cell, inputs, initial_states, mask)


def _whole_or_halves(run, cell, inputs, initial_states, mask):
    if not may_split(cell):
        return run(inputs, initial_states, mask)
    rows = inputs.shape[1]
    if rows is not None:
        if splits(cell, rows):
            return _halves(run, inputs, initial_states, mask)
        return run(inputs, initial_states, mask)
    return _cond(
        splits(cell, tf.shape(inputs)[1]),
        lambda: _halves(run, inputs, initial_states, mask),
        lambda: run(inputs, initial_states, mask),
    )


def _cond(predicate, if_true, if_false):
    """`tf.cond` over two functions that return a `LoopResult`."""

    # A `tf.cond` returns tensors only: the results travel as
    # (last_output, states, outputs), outputs omitted when there are none.
    def flat(result):
        outputs = () if result.outputs is None else (result.outputs,)
        return (result.last_output, tuple(result.states), *outputs)

    last_output, states, *outputs = tf.cond(
        predicate, lambda: flat(if_true()), lambda: flat(if_false())
    )
    return LoopResult(
        last_output=last_output,
        outputs=outputs[0] if outputs else None,
        states=list(states),
        readout=None,
    )


def _halves(run, inputs, initial_states, mask):
    half = ops.shape(inputs)[1] // 2
    results = [
        run(
            inputs[:, rows],
            [state[rows] for state in initial_states],
            None if mask is None else mask[rows],
            shares_cores=True,
        )
        for rows in (slice(None, half), slice(half, None))
    ]

    def joined(parts):
        return None if parts[0] is None else ops.concatenate(parts, axis=0)

    return LoopResult(
        last_output=joined([r.last_output for r in results]),
        outputs=joined([r.outputs for r in results]),
        states=[joined(list(pair)) for pair in zip(*(r.states for r in results))],
        readout=None,
    )
