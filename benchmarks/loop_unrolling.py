"""Time steps per loop iteration in rnnkit's fused loops, measured.

The fused forward and backward loops (`rnnkit.layers.bptt`) run
`UNROLL_STEPS` time steps per TensorFlow while-loop iteration. This script
traces one layer per factor in `--factors` (plus the Keras built-in), times a
training step of each (forward, loss, gradients of the layer's weights)
interleaved in one process, and prints the median time and the speed-up over
the first factor.

    python benchmarks/loop_unrolling.py                 # B=64 T=100 D=64 H=128
    python benchmarks/loop_unrolling.py --units 64 --batch 32 --kinds rnn
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timing import interleaved_medians  # noqa: E402

from rnnkit.layers import CELL_TYPES, bptt, get_layer  # noqa: E402

KERAS_LAYERS = {
    "rnn": keras.layers.SimpleRNN,
    "gru": keras.layers.GRU,
    "lstm": keras.layers.LSTM,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=CELL_TYPES, default=CELL_TYPES)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=100)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    if min(args.factors) < 1:
        parser.error("--factors must be >= 1")
    return args


def training_step(layer, inputs):
    """A traced step: the layer's output, a loss and its weight gradients."""
    layer.build(inputs.shape)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(inputs, training=True))
        return tape.gradient(loss, layer.trainable_weights)

    return lambda: [g.numpy() for g in step()]


def contenders(kind, args, inputs):
    """`{name: step}`: Keras's layer, then rnnkit's at each factor. The
    factor is read while tracing, so each step is traced under its own."""
    steps = {"keras": training_step(KERAS_LAYERS[kind](args.units), inputs)}
    default = bptt.UNROLL_STEPS
    try:
        for factor in args.factors:
            bptt.UNROLL_STEPS = factor
            step = training_step(get_layer(kind, args.units), inputs)
            step()  # traces now, under this factor
            steps[f"rnnkit, {factor} per iteration"] = step
    finally:
        bptt.UNROLL_STEPS = default
    return steps


def main(argv=None):
    args = parse_args(argv)
    shape = (args.batch, args.timesteps, args.features)
    inputs = tf.constant(np.random.default_rng(0).normal(size=shape), "float32")
    print(
        f"B={args.batch} T={args.timesteps} D={args.features} H={args.units}, "
        f"{args.repeats} interleaved repeats, TF {tf.__version__}"
    )
    print("| kind | layer | ms per training step | speed-up over the first factor |")
    print("|---|---|---:|---:|")
    for kind in args.kinds:
        medians = interleaved_medians(contenders(kind, args, inputs), args.repeats)
        first = medians[f"rnnkit, {args.factors[0]} per iteration"]
        for name, seconds in medians.items():
            print(f"| {kind} | {name} | {seconds * 1e3:.2f} | {first / seconds:.2f}x |")


if __name__ == "__main__":
    main()
