"""The `rnnkit` command line.

Each subcommand is a module-level function `cmd_<name>(args)` registered in
`COMMANDS` with its parser. TensorFlow is imported lazily, inside commands,
so `rnnkit --help` and `rnnkit --version` answer at once.
"""

import argparse
import sys

import rnnkit


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def _add_demo(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="show the layers: parity with keras.layers, then RNN vs GRU vs LSTM",
        description=(
            "Checks that rnnkit's SimpleRNN, GRU and LSTM give Keras's numbers "
            "with Keras's weights, then trains each on a long-range memory task "
            "(recall the first symbol of a sequence) and compares them."
        ),
    )
    parser.add_argument("--timesteps", type=int, default=30, help="sequence length")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=cmd_demo)


def cmd_demo(args):
    if args.timesteps < 2 or args.epochs < 1:
        raise UserError(
            "--timesteps must be at least 2 and --epochs at least 1. Received: "
            f"--timesteps {args.timesteps} --epochs {args.epochs}"
        )
    from rnnkit.demo import run_demo  # imports TensorFlow: after the checks

    run_demo(timesteps=args.timesteps, epochs=args.epochs, seed=args.seed)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description=(
            "Recurrent networks for Keras and TensorFlow: drop-in SimpleRNN, "
            "GRU and LSTM layers, task templates, tuning and SavedModel export."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"rnnkit {rnnkit.__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except UserError as error:
        print(f"rnnkit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
