"""`rnnkit diagnose gradients` and `rnnkit diagnose gates`: why a recurrent
model is (not) learning, as pictures and numbers.

TensorFlow is imported inside the handlers, after the arguments are checked.
"""

import math

from rnnkit.templates.errors import RnnkitError

TRUST = (
    "Models are programs: load .keras files only from sources you trust "
    "(see TensorFlow's SECURITY.md)."
)


class DiagnoseError(RnnkitError):
    """A bad argument to `rnnkit diagnose`."""


def add_diagnose(subparsers):
    parser = subparsers.add_parser(
        "diagnose",
        help="gradient flow through time, and gate activations, as PNGs",
        description="Diagnostics of recurrent models built from rnnkit layers.",
    )
    commands = parser.add_subparsers(dest="diagnostic", metavar="DIAGNOSTIC")
    _add_gradients(commands)
    _add_gates(commands)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser):
    parser.print_help()
    return 2


def _add_gradients(commands):
    parser = commands.add_parser(
        "gradients",
        help="gradient norm against lag, per cell type",
        description="For each cell type, the norm of the gradient of a fixed "
        "random linear readout of the last output h_T with respect to the state "
        "x_{T-k}, for every lag k, at initialisation and after a short training "
        "run, with the fitted decay rate (log10 norm per step). Without TARGET: "
        "the adding problem, plus the tanh RNN with W_xx rescaled to "
        "--spectral-radius and SGD on it with and without --clipnorm. With a "
        "task folder: its model with each cell type, trained for --steps "
        "batches. With a run folder: the run's model rebuilt at initialisation "
        "and as trained. " + TRUST,
    )
    parser.add_argument(
        "target", nargs="?", help="a task folder or a run folder (default: synthetic)"
    )
    parser.add_argument("--timesteps", type=int, default=100, help="synthetic T")
    parser.add_argument("--units", type=int, default=32, help="synthetic state size")
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    parser.add_argument(
        "--cells",
        nargs="+",
        help="cell types to compare (default: all; not for a run folder)",
    )
    parser.add_argument("--spectral-radius", type=float, default=2.0)
    parser.add_argument("--clipnorm", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="gradients.png", help="the PNG to write")
    parser.set_defaults(handler=cmd_gradients, precheck=_check_gradient_args)


def _check_cells(cells):
    """The known cell types among `cells` (all by default), in their order."""
    from rnnkit.layers import CELL_TYPES  # imports Keras: after the other checks

    unknown = [c for c in cells or () if c not in CELL_TYPES]
    if unknown:
        raise DiagnoseError(f"unknown cell {unknown[0]!r}. Known cells: {CELL_TYPES}")
    return [c for c in CELL_TYPES if cells is None or c in cells]


def _check_gradient_args(args):
    for name, minimum in (("timesteps", 2), ("units", 1), ("steps", 1)):
        if getattr(args, name) < minimum:
            raise DiagnoseError(
                f"--{name} must be at least {minimum}. "
                f"Received: --{name} {getattr(args, name)}"
            )
    for name in ("spectral_radius", "clipnorm"):
        value = getattr(args, name)
        if not value > 0:
            flag = "--" + name.replace("_", "-")
            raise DiagnoseError(f"{flag} must be positive. Received: {flag} {value}")
    from rnnkit.templates import runs, tasks

    if args.target is not None and not runs.is_run(args.target):
        tasks.find(args.target)


def _check_gates_args(args):
    """A run folder, or a task with a completed run, before TensorFlow."""
    from rnnkit.templates import runs, tasks

    if not runs.is_run(args.target):
        tasks.check_runs(args.target)


def cmd_gradients(args):
    cells = _check_cells(args.cells)
    from rnnkit.templates import diagnose, diagnose_plots

    report = diagnose.gradients(
        args.target,
        args.timesteps,
        args.units,
        args.steps,
        args.seed,
        args.spectral_radius,
        args.clipnorm,
        cells,
    )
    print(f"{report.title}: decay rate, log10 |gradient| per step of lag")
    print("cell  at init  trained")
    for kind, (init, trained) in report.decay_rates().items():
        print(f"{kind:4}  {init:+7.4f}  {trained:+7.4f}")
    if report.exploding:
        _print_exploding(report.exploding)
    diagnose_plots.plot_gradients(report, args.out)
    print(args.out)
    return 0


def _print_exploding(case):
    from rnnkit.layers import diagnostics

    norms = case["norms"]
    print(
        f"exploding: rnn with spectral radius {case['radius']:g}: decay rate "
        f"{diagnostics.decay_rate(norms):+.4f}, |gradient| {norms[0]:.3g} at "
        f"lag 0, {norms[-1]:.3g} at lag {len(norms) - 1}"
    )
    for name, updates in case["updates"].items():
        loss = case["losses"][name][-1]
        shown = f"{loss:.4g}" if math.isfinite(loss) else "not finite (diverged)"
        print(
            f"  SGD {name}: largest update {max(updates):.3g}, "
            f"median {sorted(updates)[len(updates) // 2]:.3g}, final loss {shown}"
        )


def _add_gates(commands):
    parser = commands.add_parser(
        "gates",
        help="heatmaps of a trained run's gate activations over a text",
        description="Runs TEXT through a trained run (or a task's best run) up "
        "to its first rnnkit recurrent layer (the forward layer of a "
        "bidirectional one, the encoder of a translation model) and plots its "
        "gates, units by tokens: LSTM forget, input and output; GRU update and "
        "reset. A SimpleRNN has no gates; its state x_t is plotted instead. " + TRUST,
    )
    parser.add_argument("target", help="a run folder, or a task (its best run)")
    parser.add_argument("text")
    parser.add_argument("--out", default="gates.png", help="the PNG to write")
    parser.set_defaults(handler=cmd_gates, precheck=_check_gates_args)


def cmd_gates(args):
    from rnnkit.templates import diagnose, diagnose_plots

    kind, tokens, panels, run = diagnose.gates(args.target, args.text)
    print(f"{run}: {kind}, {len(tokens)} tokens")
    if kind == "rnn":
        print("a SimpleRNN has no gates: plotted its state x_t")
    for name, values in panels.items():
        print(f"{name:8} mean {values.mean():.3f}")
    diagnose_plots.plot_gates(kind, tokens, panels, args.out)
    print(args.out)
    return 0
