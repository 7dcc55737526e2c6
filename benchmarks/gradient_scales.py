"""Where the Elman RNN's gradient vanishes: the norm at lag k, at standard
initialisation, against the scale of the inputs.

"A plain RNN's gradients vanish" is a statement about saturation. With the
Keras initialisers (Glorot-uniform `W_xu`, orthogonal `W_xx`, zero bias) the
Elman RNN's step Jacobian is `diag(1 - x_t^2) W_xx`; `W_xx` keeps norms, so
the gradient shrinks only as fast as the tanh saturates, and that depends on
how large the inputs are. The GRU's factor at initialisation is dominated by
its update gate, about 0.5 whatever the input; the LSTM's by its forget gate,
about sigmoid(1) = 0.73. This script measures all three on Gaussian inputs of
each `--scales` value and prints the norms at `--lag` (geometric mean over
seeds) and the RNN's ratio to each gated cell.

    python benchmarks/gradient_scales.py
    python benchmarks/gradient_scales.py --units 64 --seeds 0 1 2 3
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from rnnkit.layers import CELL_TYPES, diagnostics, get_cell  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales", type=float, nargs="+", default=[0.1, 0.3, 1.0, 2.0, 3.0]
    )
    parser.add_argument("--lag", type=int, default=40)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.lag < 1 or min(args.scales) <= 0:
        parser.error("--lag must be >= 1 and every --scales value > 0")
    return args


def lag_norm(kind, inputs, units, lag, seed):
    keras.utils.set_random_seed(seed)  # the same weights for every scale
    cell = get_cell(kind, units)
    cell.build((None, inputs.shape[-1]))
    return diagnostics.state_gradient_norms(cell, inputs, seed=seed)[lag]


def geometric_mean(values):
    # A norm below float32's range is 0; its log is -inf, and so is the mean.
    with np.errstate(divide="ignore"):
        return float(np.exp(np.mean(np.log(values))))


def measure(args):
    """`{scale: {kind: geometric-mean norm at the lag}}`."""
    table = {}
    for scale in args.scales:
        norms = {kind: [] for kind in CELL_TYPES}
        for seed in args.seeds:
            shape = (args.batch, args.lag + 1, args.features)
            inputs = np.random.default_rng(seed).normal(size=shape) * scale
            for kind in CELL_TYPES:
                norms[kind].append(
                    lag_norm(kind, inputs.astype("float32"), args.units, args.lag, seed)
                )
        table[scale] = {kind: geometric_mean(v) for kind, v in norms.items()}
    return table


def ratio(numerator, denominator):
    return f"{numerator / denominator:.1e}" if denominator > 0 else "n/a"


def print_table(args, table):
    print(
        f"Gradient norm at lag {args.lag}, standard initialisation, {args.units} units,"
        f" {args.features} Gaussian input features; geometric mean over seeds"
        f" {args.seeds}"
    )
    print("| input scale | rnn | gru | lstm | rnn / gru | rnn / lstm |")
    print("|---:|---:|---:|---:|---:|---:|")
    for scale, norms in table.items():
        rnn, gru, lstm = norms["rnn"], norms["gru"], norms["lstm"]
        print(
            f"| {scale:g} | {rnn:.1e} | {gru:.1e} | {lstm:.1e}"
            f" | {ratio(rnn, gru)} | {ratio(rnn, lstm)} |"
        )


if __name__ == "__main__":
    arguments = parse_args()
    print_table(arguments, measure(arguments))
