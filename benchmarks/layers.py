"""rnnkit's SimpleRNN / GRU / LSTM against the Keras built-ins, same process.

Each repetition times rnnkit and Keras back to back (A/B, then B/A on the
next repetition, so neither always runs second) and the script reports the
median of the per-repetition ratios, which is robust on a shared, noisy
machine. It also measures this machine's float32 matmul rate in the same run
and prints each layer's achieved GFLOP/s as a fraction of it. Four phases:
"train" is `model.fit`, "infer" is `model.predict`, "call" is the model
called in a `tf.function` traced for the benchmark's batch size, batch by
batch, as a custom inference loop runs it, without `predict`'s per-call
set-up, and "serve" the same traced with the batch size unknown, as a
SavedModel's serving signature is (`None` on its batch axis), so the layers
choose their path when the call runs. `fit` and `predict`
read the batches from memory, with tf.data's autotuning off, as the
templates train (`rnnkit.templates.training.without_autotuning`).

    python benchmarks/layers.py                   # B=64, T=100, D=64, H=128
    python benchmarks/layers.py --kinds lstm --repeats 9 --batch 32
    python benchmarks/layers.py --bidirectional    # Bidirectional(...) of each
    python benchmarks/layers.py --bidirectional --keras-wrapper
    python benchmarks/layers.py --policy mixed_bfloat16 --units 512
    python benchmarks/layers.py --torch /path/to/python  # PyTorch from there

Where PyTorch is installed (here, or in the Python `--torch` names), a
PyTorch column times nn.RNN / nn.GRU / nn.LSTM at the same shape, in a
process of its own (`torch_worker.py`), interleaved with the other two.

Ratios above 1.0 mean rnnkit is faster.
"""

import argparse
import importlib.util
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from machine import bf16_flags, cpu_name, vector_flags  # noqa: E402

from rnnkit import layers as rnnkit_layers  # noqa: E402
from rnnkit.templates.training import without_autotuning  # noqa: E402

# Each kind traces four functions from one lambda (`traced_calls`), which
# TensorFlow would warn about as retracing; each is traced once, before
# the timing.
tf.get_logger().setLevel("ERROR")

KERAS_LAYERS = {
    "rnn": keras.layers.SimpleRNN,
    "gru": keras.layers.GRU,
    "lstm": keras.layers.LSTM,
}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=list(KERAS_LAYERS))
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=100)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--batches", type=int, default=4, help="batches per fit")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--bidirectional",
        action="store_true",
        help="wrap each layer in its library's Bidirectional",
    )
    parser.add_argument(
        "--keras-wrapper",
        action="store_true",
        help="with --bidirectional, wrap rnnkit's layers in Keras's Bidirectional "
        "rather than rnnkit's",
    )
    parser.add_argument(
        "--policy",
        default="float32",
        help="Keras dtype policy of the layers, e.g. mixed_bfloat16",
    )
    parser.add_argument(
        "--inter-op-threads",
        type=int,
        default=0,
        help="TensorFlow's inter-op thread pool size (0: TensorFlow's default)",
    )
    parser.add_argument(
        "--intra-op-threads",
        type=int,
        default=0,
        help="TensorFlow's intra-op thread pool size (0: TensorFlow's default)",
    )
    parser.add_argument(
        "--torch",
        metavar="PYTHON",
        default="auto",
        help="the Python that runs the PyTorch column: auto (this one, where "
        "it has torch), none, or a path; float32 policy only",
    )
    args = parser.parse_args(argv)
    if args.torch == "auto":
        found = importlib.util.find_spec("torch") is not None
        args.torch = sys.executable if found else "none"
    if args.policy != "float32":  # the worker times float32 only
        args.torch = "none"
    return args


class TorchWorker:
    """PyTorch's layer of `kind`, timed in its own process (`torch_worker.py`)
    one phase ("train" or "infer") per request."""

    def __init__(self, kind, args):
        worker = pathlib.Path(__file__).with_name("torch_worker.py")
        shape = dict(
            batch=args.batch,
            timesteps=args.timesteps,
            features=args.features,
            units=args.units,
            batches=args.batches,
            seed=args.seed,
        )
        command = [args.torch, str(worker), kind]
        command += [f"--{k}={v}" for k, v in shape.items()]
        command += ["--bidirectional"] if args.bidirectional else []
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        except OSError as error:
            raise SystemExit(f"--torch {args.torch}: {error.strerror}") from None
        if not self.process.stdout.readline().startswith("ready"):
            raise SystemExit(
                f"--torch {args.torch}: the PyTorch worker did not start (is "
                f"torch installed there?)"
            )

    def __call__(self, phase):
        self.process.stdin.write(phase + "\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def matmul_gflops(size=1024, repeats=20, dtype="float32"):
    """This machine's matmul rate in `dtype`, the ceiling for the layers."""
    a = tf.cast(tf.random.normal((size, size)), dtype)
    b = tf.cast(tf.random.normal((size, size)), dtype)
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def layer_flops(kind, args):
    """Forward FLOPs of one batch: the two matmuls of every time step."""
    width = GATES[kind] * args.units
    per_step = 2 * args.batch * (args.features + args.units) * width
    directions = 2 if args.bidirectional else 1
    return per_step * args.timesteps * directions


def bidirectional_label(args):
    if not args.bidirectional:
        return ""
    wrapper = "keras.layers" if args.keras_wrapper else "rnnkit.layers"
    return f", bidirectional (rnnkit's layers in {wrapper}.Bidirectional)"


def build_pair(kind, args):
    """Two identical models, one per library, sharing the same weights."""

    def model(layer, wrapper=keras.layers.Bidirectional):
        if args.bidirectional:
            layer = wrapper(layer)
        inputs = keras.Input((args.timesteps, args.features))
        # The output in float32, as Keras advises under a mixed policy.
        outputs = keras.layers.Dense(1, dtype="float32")(layer(inputs))
        built = keras.Model(inputs, outputs)
        built.compile(optimizer="adam", loss="mse")
        return built

    keras.utils.set_random_seed(args.seed)
    theirs = model(KERAS_LAYERS[kind](args.units))
    # rnnkit's wrapper tells rnnkit's layers that their loops share the cores.
    wrapper = keras.layers if args.keras_wrapper else rnnkit_layers
    ours = model(rnnkit_layers.get_layer(kind, args.units), wrapper.Bidirectional)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def traced_calls(model, x, batch, known_batch=True):
    """Inference as a custom loop runs it (`known_batch`) or a serving
    signature, traced with the batch size unknown: the model called in a
    `tf.function`, batch by batch, without `predict`'s set-up."""
    batches = [tf.constant(x[i : i + batch]) for i in range(0, len(x), batch)]
    shape = batches[0].shape if known_batch else (None, *batches[0].shape[1:])
    forward = tf.function(
        lambda inputs: model(inputs, training=False),
        input_signature=[tf.TensorSpec(shape, batches[0].dtype)],
    )
    return lambda: [forward(inputs).numpy() for inputs in batches]


def compare(kind, args, data):
    """Per phase, `(rnnkit, Keras, PyTorch or None)` seconds per repetition."""
    x, y = data
    ours, theirs = build_pair(kind, args)
    torch = TorchWorker(kind, args) if args.torch != "none" else None
    # With autotuning, as `fit` has for NumPy arrays, about half the epochs
    # here ran at one speed for both libraries (`without_autotuning`).
    examples = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch)
    examples = without_autotuning(examples.cache())
    inputs = examples.map(lambda x, y: x).cache()
    train = {
        m: (lambda m=m: m.fit(examples, epochs=1, shuffle=False, verbose=0))
        for m in (ours, theirs)
    }
    infer = {m: (lambda m=m: m.predict(inputs, verbose=0)) for m in (ours, theirs)}
    call = {m: traced_calls(m, x, args.batch) for m in (ours, theirs)}
    serve = {m: traced_calls(m, x, args.batch, False) for m in (ours, theirs)}
    phases = {"train": train, "infer": infer, "call": call, "serve": serve}
    for fns in phases.values():  # compile and warm up outside the timing
        for m in (ours, theirs):
            fns[m]()
    if torch:
        torch("train"), torch("infer")
    results = {phase: [] for phase in phases}
    for repeat in range(args.repeats):
        order = (ours, theirs) if repeat % 2 == 0 else (theirs, ours)
        for phase, fns in phases.items():
            timed_too = torch and phase in ("train", "infer")
            torch_first = timed_too and repeat % 3 == 0
            their = torch(phase) if torch_first else None
            seconds = {m: timed(fns[m]) for m in order}
            if timed_too and not torch_first:
                their = torch(phase)
            results[phase].append((seconds[ours], seconds[theirs], their))
    if torch:
        torch.close()
    return results


def report(kind, args, results, peak):
    steps = args.batches * args.batch * args.timesteps
    flops = layer_flops(kind, args) * args.batches
    rows = []
    for phase, pairs in results.items():
        ours = statistics.median(p[0] for p in pairs)
        theirs = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(p[1] / p[0] for p in pairs)
        # Training does a forward and a backward pass: about 3x the FLOPs.
        phase_flops = flops * (3 if phase == "train" else 1)
        row = (
            f"| {kind:4} | {phase:5} | {steps / ours:11,.0f} | {steps / theirs:11,.0f}"
            f" | {ratio:5.2f}x | {phase_flops / ours / 1e9:6.1f} "
            f"({phase_flops / ours / 1e9 / peak:4.0%}) |"
        )
        if pairs[0][2] is not None:
            torch = statistics.median(p[2] for p in pairs)
            versus = statistics.median(p[2] / p[0] for p in pairs)
            row += f" {steps / torch:11,.0f} | {versus:5.2f}x |"
        elif args.torch != "none":
            row += " | |"  # PyTorch times fit-like training and inference only
        rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(argv)
    keras.config.set_dtype_policy(args.policy)
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    rng = np.random.default_rng(args.seed)
    n = args.batches * args.batch
    data = (
        rng.normal(size=(n, args.timesteps, args.features)).astype("float32"),
        rng.normal(size=(n, 1)).astype("float32"),
    )
    compute = keras.config.dtype_policy().compute_dtype
    peak = matmul_gflops(dtype=compute)
    print(
        f"B={args.batch} T={args.timesteps} D={args.features} H={args.units}"
        f"{bidirectional_label(args)}, policy "
        f"{args.policy}, {args.repeats} interleaved repeats, inter-op threads "
        f"{args.inter_op_threads or 'default'}, intra-op threads "
        f"{args.intra_op_threads or 'default'}, TF {tf.__version__}, "
        f"Keras {keras.__version__}, devices: "
        f"{[d.device_type for d in tf.config.list_logical_devices()]}"
    )
    flags = " ".join(bf16_flags()) or "none"
    print(f"CPU: {cpu_name()}; vectors: {vector_flags()}; bf16 flags: {flags}")
    print(f"{compute} matmul (1024^3): {peak:.1f} GFLOP/s\n")
    header = (
        "| kind | phase | rnnkit steps/s | Keras steps/s | ratio | rnnkit GFLOP/s "
        "(of matmul) |"
    )
    rule = "|---|---|---:|---:|---:|---:|"
    if args.torch != "none":
        print(f"PyTorch column: {args.torch}, in a process of its own")
        header += " PyTorch steps/s | rnnkit vs PyTorch |"
        rule += "---:|---:|"
    print(header)
    print(rule)
    for kind in args.kinds:
        for row in report(kind, args, compare(kind, args, data), peak):
            print(row, flush=True)


if __name__ == "__main__":
    main()
