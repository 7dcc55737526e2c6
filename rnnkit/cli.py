"""The `rnnkit` command line, in the order of a user's day: new, train, tune,
compare, evaluate, export, predict, attention, info, serve, diagnose and demo.

Each command is a `cmd_<name>(args)` function with its parser beside it
(tune and compare in `cli_tuning`, serve in `cli_serve`, diagnose in
`cli_diagnose`).
TensorFlow is imported after the arguments (and, for train, tune and
compare, the task's config) are checked, so `--help`, `--version` and
mistakes answer at once, and quietly (see `front_door`). Every expected
failure prints one line and exits with its own status (`front_door`).
"""

import argparse
import json
import logging
import os
import pathlib
import sys

import rnnkit
from rnnkit import cli_diagnose, cli_serve, cli_tuning, front_door
from rnnkit.templates import quiet_start
from rnnkit.templates.errors import UsageError as UserError

# A command that only loads and runs SavedModels loads TensorFlow without
# Keras's scikit-learn and matplotlib integrations, 2.3 s sooner.
SAVED_MODEL_ONLY = quiet_start.SAVED_MODEL_ONLY
TRUST = (
    "Models are programs: load SavedModels and .keras files only from sources "
    "you trust (see TensorFlow's SECURITY.md)."
)


def _target_help(parser):
    parser.add_argument(
        "target", help="a task folder (made by `rnnkit new`) or a built-in task name"
    )


def _add_new(subparsers):
    parser = subparsers.add_parser("new", help="copy a task template into a folder")
    parser.add_argument(
        "task", help="the template: classification, generation or translation"
    )
    parser.add_argument("dir", help="the folder to create")
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty folder"
    )
    parser.set_defaults(handler=cmd_new)


def cmd_new(args):
    from rnnkit.templates import tasks

    folder = tasks.copy_template(args.task, args.dir, force=args.force)
    print(folder)
    return 0


def _add_train(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a task; writes <dir>/runs/<run-id>/",
        description="Trains the task and writes model.keras, the resolved "
        "config.toml, history.json, metrics.json and TensorBoard logs to a new "
        "run folder. Resume an interrupted run with --run-id.",
    )
    _target_help(parser)
    parser.add_argument("--data", help="labelled data (overrides the config's `data`)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--cell", help="the cell type (see `cell` in config.toml)")
    parser.add_argument("--units", type=int)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key (repeatable)",
    )
    parser.add_argument(
        "--run-id",
        help="name the run, or resume an unfinished one (with its own settings)",
    )
    parser.add_argument(
        "--strategy",
        default="default",
        help="default (one device); mirrored (every local GPU); multi-worker (one "
        "process per machine, cluster from TF_CONFIG, worker 0 writes the run; "
        "needs --run-id, and the same command on every worker resumes it)",
    )
    parser.set_defaults(handler=cmd_train, precheck=precheck_train)


def train_overrides(args):
    from rnnkit.templates import config as settings

    overrides = settings.parse_assignments(args.set)
    for key in ("epochs", "cell", "units", "layers", "seed"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    return overrides


def precheck_saved_model(args):
    """An rnnkit export at `args.saved_model`, before TensorFlow."""
    from rnnkit.templates import export

    export.read_metadata(args.saved_model)


def precheck_train(args):
    """The settings' keys and types, a resumed run's, the strategy's
    arguments (TF_CONFIG) and that --data exists, before TensorFlow."""
    from rnnkit.templates import distribute, runs, tasks, text_files

    distribute.check(args.strategy, args.run_id, os.environ)
    overrides = train_overrides(args)
    tasks.check_settings(args.target, overrides)
    if args.run_id is not None:
        _, workdir = tasks.find(args.target)
        runs.resumed_settings(workdir / runs.RUNS, args.run_id, overrides)
    if args.data is not None:  # resolved, as `workflow.train` names it
        text_files.existing_path(pathlib.Path(args.data).resolve())


def cmd_train(args):
    from rnnkit.templates import distribute, runs, workflow

    # First: a multi-worker strategy must exist before TensorFlow runs anything.
    placement = distribute.start(args.strategy)
    # Plain progress lines, without a bar's control codes, into a file or pipe.
    verbose = "auto" if sys.stdout.isatty() else 2
    run = workflow.train(
        args.target,
        args.data,
        train_overrides(args),
        args.run_id,
        verbose,
        placement=placement,
    )
    if not placement.is_chief:
        print(f"{placement.describe()} done; the chief (worker 0) writes the run {run}")
        return 0
    print(f"{run}\nvalidation: {runs.headline(runs.metrics(run))}")
    return 0


def _add_evaluate(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="metrics of a run or a SavedModel on labelled data",
        description="Prints accuracy and macro-F1 on --data for an exported "
        "SavedModel, a run folder, or a task's best run. " + TRUST,
    )
    parser.add_argument("target", help="a SavedModel, a run folder or a task")
    parser.add_argument("--data", required=True, help="labelled data to score")
    parser.add_argument("--run", help="with a task: this run rather than the best")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=cmd_evaluate, precheck=precheck_evaluate)


def precheck_evaluate(args):
    """The target, an export, a run folder or a task with runs (told apart as
    `workflow.evaluate` does), and that --data exists, before TensorFlow."""
    from rnnkit.templates import export, runs, tasks, text_files

    if export.is_export(args.target):
        export.read_metadata(args.target)
    elif not runs.is_run(args.target):
        tasks.check_runs(args.target, args.run)
    text_files.existing_path(args.data)


def cmd_evaluate(args):
    from rnnkit.templates import workflow

    result = workflow.evaluate(args.target, args.data, args.run)
    if args.json:
        print(json.dumps(result))
        return 0
    for key, value in result.items():
        if isinstance(value, (int, float)):
            print(f"{key}: {value}")
    if "confusion_matrix" in result:
        print("confusion matrix (rows: true, columns: predicted):")
        width = max(len(label) for label in result["labels"])
        for label, row in zip(result["labels"], result["confusion_matrix"]):
            print(f"  {label:>{width}}  " + " ".join(f"{n:5d}" for n in row))
    return 0


def _add_export(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="export a run as a SavedModel for TF Serving",
        description="Writes <out>/<name>/<version>/, checks it in a fresh "
        "process with plain TensorFlow, and prints its path.",
    )
    _target_help(parser)
    parser.add_argument("--run", help="the run id; default: the best run")
    parser.add_argument("--out", default="saved_models", help="export root")
    parser.add_argument("--name", help="model name; default: the task folder's name")
    parser.add_argument("--version", type=int, help="version number; default: next")
    parser.add_argument(
        "--force", action="store_true", help="replace an existing version"
    )
    parser.set_defaults(handler=cmd_export, precheck=precheck_export)


def precheck_export(args):
    from rnnkit.templates import names, tasks

    if args.name is not None:
        names.path_component(args.name, "--name")
    if args.version is not None and args.version < 1:
        raise UserError(
            f"--version must be a positive integer. Received: {args.version}"
        )
    tasks.check_runs(args.target, args.run)


def cmd_export(args):
    from rnnkit.templates import workflow

    print(
        workflow.export_run(
            args.target, args.run, args.out, args.name, args.version, args.force
        )
    )
    return 0


def _add_predict(subparsers):
    for name, help_text in [
        ("predict", "answers from a SavedModel, one line per text"),
        ("generate", "text from a generation SavedModel (predict, by another name)"),
        ("translate", "translations from a SavedModel (predict, by another name)"),
    ]:
        parser = subparsers.add_parser(
            name,
            help=help_text,
            description="Reads texts (prompts) from the arguments, or lines from "
            "stdin. " + TRUST,
        )
        parser.add_argument("saved_model", help="a version folder, or a model folder")
        parser.add_argument("texts", nargs="*", help="texts; none: read stdin")
        parser.add_argument("--json", action="store_true", help="JSON lines")
        options = parser.add_argument_group(
            "decoding options (without any, serving_default with the config's "
            "defaults; generation: the `generate` signature's options; "
            "translation: --beam-width and --max-length)"
        )
        options.add_argument("--max-length", type=int, help="tokens to generate")
        options.add_argument("--temperature", type=float, help="> 0; 1 is neutral")
        options.add_argument("--top-k", type=int, help="sample from the k likeliest")
        options.add_argument("--top-p", type=float, help="nucleus sampling, in (0, 1]")
        options.add_argument("--seed", type=int, help="the same seed, the same text")
        options.add_argument(
            "--greedy", action="store_true", help="the likeliest tokens"
        )
        options.add_argument("--beam-width", type=int, help="translation: beam search")
        parser.set_defaults(
            handler=cmd_predict, precheck=precheck_saved_model, **SAVED_MODEL_ONLY
        )


# Decoding options; each task checks which apply to it.
DECODING_OPTIONS = ("max_length", "temperature", "top_k", "top_p", "seed", "beam_width")


def read_texts(args):
    """The texts to answer: the arguments, or the lines of stdin (UTF-8)."""
    from rnnkit.templates import text_files

    for number, text in enumerate(args.texts, 1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"text argument {number} is not UTF-8; give UTF-8 text"
            ) from None
    if args.texts:
        return list(args.texts)
    text = text_files.decode(sys.stdin.buffer.read(), "stdin")
    return text.splitlines()


def cmd_predict(args):
    from rnnkit.templates import inference

    options = {k: getattr(args, k) for k in DECODING_OPTIONS}
    options = {k: v for k, v in options.items() if v is not None}
    if args.greedy:
        options["greedy"] = True
    texts = read_texts(args)
    if not texts:
        return 0
    for result in inference.predict(args.saved_model, texts, args.json, options):
        print(json.dumps(result) if args.json else result)
    return 0


def _add_attention(subparsers):
    parser = subparsers.add_parser(
        "attention",
        help="plot a translation's attention weights as a PNG",
        description="Translates TEXT with a translation SavedModel and saves "
        "its attention weights (target tokens by source tokens). " + TRUST,
    )
    parser.add_argument("saved_model")
    parser.add_argument("text")
    parser.add_argument("--out", default="attention.png", help="the PNG to write")
    parser.set_defaults(
        handler=cmd_attention, precheck=precheck_saved_model, **SAVED_MODEL_ONLY
    )


def cmd_attention(args):
    from rnnkit.templates import inference

    translation = inference.plot_attention(args.saved_model, args.text, args.out)
    print(f"{translation}\n{args.out}")
    return 0


def _add_info(subparsers):
    parser = subparsers.add_parser(
        "info",
        help="what a SavedModel is: task, signature, labels, metrics",
        description=TRUST,
    )
    parser.add_argument("saved_model")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(
        handler=cmd_info, precheck=precheck_saved_model, **SAVED_MODEL_ONLY
    )


def cmd_info(args):
    from rnnkit.templates import inference

    details = inference.info(args.saved_model)
    if args.json:
        print(json.dumps(details, indent=2))
        return 0
    for key, value in details.items():
        text = json.dumps(value) if isinstance(value, (dict, list)) else value
        print(f"{key}: {text}")
    return 0


def _add_demo(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="new -> tune -> export -> predict on the bundled data",
        description="Runs the whole workflow on a task's bundled data. The "
        "`layers` demo instead checks parity with keras.layers and compares "
        "RNN, GRU and LSTM on a memory task.",
    )
    parser.add_argument(
        "task",
        nargs="?",
        default="classification",
        help="classification (default), generation, translation or layers",
    )
    parser.add_argument(
        "--dir", help="work here (kept, to serve its export); default: ./rnnkit-demo"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs (per trial, for the workflow: 5; translation 3)",
    )
    parser.add_argument(
        "--max-trials",
        type=int,
        default=None,
        help="the workflow's search budget (3 trials; translation 1)",
    )
    parser.add_argument("--timesteps", type=int, default=30, help="layers demo only")
    parser.add_argument("--seed", type=int, default=0, help="layers demo only")
    parser.set_defaults(handler=cmd_demo, precheck=precheck_demo)


def precheck_demo(args):
    if args.epochs is not None and args.epochs < 1:
        raise UserError(
            f"--epochs must be at least 1. Received: --epochs {args.epochs}"
        )
    if args.max_trials is not None and args.max_trials < 1:
        raise UserError(
            f"--max-trials must be at least 1. Received: --max-trials {args.max_trials}"
        )
    if args.task == "layers" and args.timesteps < 2:
        raise UserError(f"--timesteps must be at least 2. Received: {args.timesteps}")


def cmd_demo(args):
    if args.task == "layers":
        from rnnkit.layers.demo import run_demo

        run_demo(timesteps=args.timesteps, epochs=args.epochs or 15, seed=args.seed)
        return 0
    from rnnkit.demo import run_workflow_demo

    run_workflow_demo(args.task, args.dir, args.epochs, args.max_trials)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent networks for Keras and TensorFlow: copy a task "
        "template, train it, tune it, export it, use it.",
    )
    parser.add_argument(
        "--version", action="version", version=f"rnnkit {rnnkit.__version__}"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of any failure, and TensorFlow's start-up log",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in (
        _add_new,
        _add_train,
        cli_tuning.add_tune,
        cli_tuning.add_compare,
        _add_evaluate,
        _add_export,
        _add_predict,
        _add_attention,
        _add_info,
        cli_serve.add_serve,
        cli_diagnose.add_diagnose,
        _add_demo,
    ):
        add(subparsers)
    return parser


def _show_warnings():
    """rnnkit's own warnings (truncated texts, skipped lines) go to stderr."""
    log = logging.getLogger("rnnkit")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("rnnkit: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


# Commands that never need TensorFlow.
LIGHT_COMMANDS = ("new",)


def main(argv=None):
    _show_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2

    def start(args):
        if getattr(args, "precheck", None):
            args.precheck(args)
        if args.command not in LIGHT_COMMANDS:
            # Commands that only run SavedModels (SAVED_MODEL_ONLY) need
            # neither of Keras's extras.
            extras = not getattr(args, "saved_model_only", False)
            quiet_start.load_tensorflow(args.debug, keras_extras=extras)
        return args.handler(args)

    return front_door.run(args.command, start, args, args.debug)


if __name__ == "__main__":
    sys.exit(main())
