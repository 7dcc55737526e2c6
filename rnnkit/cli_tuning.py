"""The `rnnkit tune` and `rnnkit compare` commands."""

from rnnkit.templates.errors import UsageError

# search_space.TUNERS, spelled out here because importing search_space
# imports Keras, and argument errors and --help must not wait for it; a test
# keeps the two equal.
TUNER_NAMES = ("random", "bayesian", "local", "hyperband", "grid")


def parse_cells(text):
    """`"rnn,gru"` to `["rnn", "gru"]`, each a known cell type, no repeats."""
    from rnnkit.layers import CELL_TYPES  # imports Keras: after the other checks

    cells = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELL_TYPES]
    if not cells or unknown or len(set(cells)) != len(cells):
        raise UsageError(
            f"--cells takes distinct cell types from {', '.join(CELL_TYPES)}, "
            f"separated by commas. Received: --cells {text}"
        )
    return cells


def _positive(args, *names):
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be at least 1. Received: {flag} {value}")


def _add_task_options(parser):
    """The task, its data and config overrides, as `rnnkit train` takes them."""
    parser.add_argument(
        "target", help="a task folder (made by `rnnkit new`) or a built-in task name"
    )
    parser.add_argument("--data", help="training data (overrides the config's `data`)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any top-level config key (repeatable)",
    )


def add_tune(subparsers):
    parser = subparsers.add_parser(
        "tune",
        help="Keras Tuner search over cell type and size; the best becomes a run",
        description="Searches the [search] space of the task's config.toml with "
        "Keras Tuner, one progress line per trial. State, leaderboard "
        "(tuning/leaderboard.md and .csv) and TensorBoard HParams logs "
        "(tuning/logs) go to <dir>/tuning/; the best trial is saved as a run "
        "folder that `rnnkit export` exports. Run the same command again to "
        "resume an interrupted search.",
    )
    _add_task_options(parser)
    parser.add_argument("--tuner", choices=TUNER_NAMES, help="default: [search] tuner")
    parser.add_argument("--max-trials", type=int, help="trials to run (not hyperband)")
    parser.add_argument("--epochs", type=int, help="epochs per trial at most")
    parser.add_argument(
        "--executions-per-trial", type=int, help="trainings per trial, averaged"
    )
    parser.add_argument("--seed", type=int, help="seeds the tuner and the weights")
    parser.add_argument("--cells", help="cell types to search, e.g. gru,lstm")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete this task's earlier search and start afresh",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="trials at once, each in its own process with an equal share of "
        "the cores (default 1); their logs go to <dir>/tuning/workers/",
    )
    parser.set_defaults(handler=cmd_tune, precheck=precheck_tune)


def _overrides(args, with_cells=True):
    import pathlib

    from rnnkit.templates import config as settings

    _positive(args, "max_trials", "epochs", "executions_per_trial")
    overrides = settings.parse_assignments(args.set)
    search = {}
    for key in ("tuner", "max_trials", "epochs", "executions_per_trial"):
        if getattr(args, key) is not None:
            search[key] = getattr(args, key)
    if args.cells is not None and with_cells:  # (imports Keras to check them)
        search["cells"] = parse_cells(args.cells)
    if search:
        overrides["search"] = search
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.data is not None:
        overrides["data"] = str(pathlib.Path(args.data).resolve())
    return overrides


def precheck_tune(args):
    """The settings' keys and types, and --workers, before TensorFlow."""
    from rnnkit.templates import tasks
    from rnnkit.tuning import parallel

    _positive(args, "workers")
    if args.workers is not None:
        parallel.check_environment()
    tasks.check_settings(args.target, _overrides(args, with_cells=False))


def cmd_tune(args):
    from rnnkit.tuning.search import tune

    result = tune(
        args.target, _overrides(args), args.overwrite, workers=args.workers or 1
    )
    if result.best_run is None:  # a worker of a distributed search
        return 0
    score, trials = result.best_score, result.trials
    print(f"best {result.objective} {score:.4f} after {trials} trials")
    if result.by_cell:
        each = ", ".join(f"{c} {value:.4f}" for c, value in result.by_cell.items())
        print(f"best of each cell: {each}")
    print(f"leaderboard: {result.leaderboard}\nbest run: {result.best_run}")
    return 0


def add_compare(subparsers):
    parser = subparsers.add_parser(
        "compare",
        help="RNN vs GRU vs LSTM on one task: same data, epochs and seeds",
        description="Trains each cell type once per seed with the same data, "
        "split, epochs and size (or parameter count, with --match params), and "
        "writes <dir>/compare/report.md and .csv, curves.png and summary.png: "
        "the validation metric as mean ± std, parameters, time per epoch and "
        "latency, and whether the winner's lead is beyond the noise.",
    )
    _add_task_options(parser)
    parser.add_argument("--cells", help="cell types to compare (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per cell type")
    parser.add_argument("--epochs", type=int, help="epochs per run (default: config)")
    parser.add_argument("--units", type=int, help="state size (default: config)")
    parser.add_argument("--layers", type=int, help="stacked layers (default: config)")
    parser.add_argument(
        "--match",
        choices=("units", "params"),
        default="units",
        help="give every cell the same units, or about the same parameter count",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an earlier comparison"
    )
    parser.set_defaults(handler=cmd_compare)


def cmd_compare(args):
    import pathlib

    from rnnkit.templates import config as settings

    _positive(args, "seeds", "epochs", "units", "layers")
    overrides = settings.parse_assignments(args.set)
    cells = parse_cells(args.cells) if args.cells else None
    for key in ("epochs", "units", "layers"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.data is not None:
        overrides["data"] = str(pathlib.Path(args.data).resolve())
    from rnnkit.tuning.compare import compare

    folder, _ = compare(
        args.target, cells, args.seeds, args.match, overrides, args.overwrite
    )
    report = (folder / "report.md").read_text().splitlines()
    print(f"{report[2]}\n{folder / 'report.md'}")
    return 0
