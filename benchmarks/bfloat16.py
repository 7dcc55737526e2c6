"""What Keras's `mixed_bfloat16` policy buys the recurrent layers on this CPU.

For each kind, four models with the same weights train and predict in
turn, interleaved (the order flips every repetition): rnnkit and Keras,
each in float32 and under `mixed_bfloat16`. The table gives each library's
bfloat16 speed-up over its own float32 (median of the per-repetition
ratios) and how far the bfloat16 outputs are from the float32 ones. The
matmul rates in both dtypes come first: a CPU without bfloat16
instructions (`avx512_bf16`, `amx_bf16`) emulates it, slowly.

    python benchmarks/bfloat16.py                       # H=128 and H=512
    python benchmarks/bfloat16.py --kinds lstm --units 512 --repeats 9

Ratios above 1.0 mean bfloat16 is faster.
"""

import argparse
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from machine import bf16_flags, cpu_name  # noqa: E402

# benchmarks/layers.py: its timing, matmul rate and the Keras layers
import layers as bench  # noqa: E402
from rnnkit import layers as rnnkit_layers  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=list(bench.KERAS_LAYERS))
    parser.add_argument("--units", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=100)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--batches", type=int, default=4, help="batches per fit")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def build_models(kind, units, args):
    """`{(library, policy): model}`, all with the same weights."""
    keras.utils.set_random_seed(args.seed)
    models = {}
    for policy in POLICIES:
        for library in ("rnnkit", "keras"):
            if library == "rnnkit":
                layer = rnnkit_layers.get_layer(kind, units, dtype=policy)
            else:
                layer = bench.KERAS_LAYERS[kind](units, dtype=policy)
            inputs = keras.Input((args.timesteps, args.features))
            outputs = keras.layers.Dense(1, dtype="float32")(layer(inputs))
            model = keras.Model(inputs, outputs)
            model.compile(optimizer="adam", loss="mse")
            models[library, policy] = model
    weights = models["keras", "float32"].get_weights()
    for model in models.values():
        model.set_weights(weights)
    return models


def measure(models, data, args):
    x, y = data
    runs = {}
    for key, model in models.items():
        runs[key, "train"] = lambda m=model: m.fit(
            x, y, batch_size=args.batch, epochs=1, verbose=0
        )
        runs[key, "infer"] = lambda m=model: m.predict(
            x, batch_size=args.batch, verbose=0
        )
    outputs = {key: model.predict(x, verbose=0) for key, model in models.items()}
    for run in runs.values():  # compile and warm up outside the timing
        run()
    seconds = {key: [] for key in runs}
    order = list(runs)
    for repeat in range(args.repeats):
        for key in order if repeat % 2 == 0 else order[::-1]:
            seconds[key].append(bench.timed(runs[key]))
    return seconds, outputs


def rows(kind, units, seconds, outputs):
    for library in ("rnnkit", "keras"):
        exact = outputs[library, "float32"]
        error = float(np.max(np.abs(outputs[library, "mixed_bfloat16"] - exact)))
        ratios = []
        for phase in ("train", "infer"):
            f32 = seconds[(library, "float32"), phase]
            bf16 = seconds[(library, "mixed_bfloat16"), phase]
            ratios.append(statistics.median(a / b for a, b in zip(f32, bf16)))
        yield (
            f"| {kind:4} | {units:5} | {library:6} | {ratios[0]:5.2f}x "
            f"| {ratios[1]:5.2f}x | {error:.4f} |"
        )


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    n = args.batches * args.batch
    data = (
        rng.normal(size=(n, args.timesteps, args.features)).astype("float32"),
        rng.normal(size=(n, 1)).astype("float32"),
    )
    flags = " ".join(bf16_flags()) or "none (bfloat16 is emulated)"
    print(
        f"B={args.batch} T={args.timesteps} D={args.features}, {args.repeats} "
        f"interleaved repeats; CPU: {cpu_name()}; "
        f"bf16 flags: {flags}"
    )
    for dtype in ("float32", "bfloat16"):
        rate = bench.matmul_gflops(dtype=dtype)
        print(f"{dtype} matmul (1024^3): {rate:.1f} GFLOP/s")
    print(
        "\n| kind | units | layers | bf16 train | bf16 infer | max |bf16 - f32| "
        "output |"
    )
    print("|---|---:|---|---:|---:|---:|")
    for units in args.units:
        for kind in args.kinds:
            models = build_models(kind, units, args)
            seconds, outputs = measure(models, data, args)
            for row in rows(kind, units, seconds, outputs):
                print(row, flush=True)


if __name__ == "__main__":
    main()
