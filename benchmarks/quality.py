"""Is each template's model worth keeping? Every template on its bundled
data, with the config's split and seed: the simple baselines of its field
(the task's `baselines` hook), rnnkit's default `rnnkit train`, and the
default `rnnkit tune` (the shipped `[search]` settings), with their times.

- classification: TF-IDF with logistic regression, and word-plus-character
  TF-IDF with a linear SVM (scikit-learn), against validation accuracy;
- generation: what gzip, bzip2 and xz spend on the validation text once they
  have read the training text, against the model's bits per character;
- translation: copying the source, and the model's greedy and beam decoding
  (through its SavedModel), in cased sacreBLEU and chrF.

    python benchmarks/quality.py                   # all three, train and tune
    python benchmarks/quality.py --templates classification --tune   # no search
    python benchmarks/quality.py --tune classification generation
    python benchmarks/quality.py --templates generation --tune --set epochs=1

Prints a Markdown table and writes it to `--out` (default
benchmarks/results/quality.md). Times are wall-clock seconds on this machine.
"""

import argparse
import contextlib
import os
import pathlib
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from machine import cpu_name  # noqa: E402
from untrained import add_set_option, set_overrides  # noqa: E402

from rnnkit.templates import config as settings  # noqa: E402
from rnnkit.templates import inference, metrics, runs, tasks, workflow  # noqa: E402
from rnnkit.templates.quiet_start import load_tensorflow  # noqa: E402

# The columns of each template's rows: its headline metrics.
COLUMNS = {
    "classification": ("accuracy", "macro_f1"),
    "generation": ("bits_per_char",),
    "translation": ("bleu", "chrf"),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", nargs="+", default=list(tasks.BUILT_IN))
    parser.add_argument(
        "--tune",
        nargs="*",
        default=None,
        help="the templates to search too (default: all of --templates; "
        "none: --tune with no names)",
    )
    parser.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("benchmarks/results/quality.md"),
    )
    parser.add_argument(
        "--keep",
        type=pathlib.Path,
        help="keep each template's copy here, with its runs (history.csv has "
        "every epoch) and its search; by default they are deleted",
    )
    add_set_option(parser, "template's", "epochs=1 (every template; a quick look)")
    args = parser.parse_args(argv)
    # A kept search would resume instead of running, and old runs would mix
    # with the new ones.
    if args.keep and args.keep.exists():
        if not args.keep.is_dir():
            parser.error(f"--keep {args.keep}: not a folder; give a new one")
        if any(args.keep.iterdir()):
            parser.error(f"--keep {args.keep}: the folder is not empty; give a new one")
    return args


def row(kind, name, values, seconds):
    return {"template": kind, "model": name, **values, "seconds": seconds}


def describe(config):
    """The model's settings in a few words, for the table."""
    shape = f"{config['cell']} {config['units']}"
    if config.get("bidirectional"):
        shape = f"bidirectional {shape}"
    return f"{shape}, {config['layers']} layer(s)"


def run_values(kind, run):
    found = runs.metrics(run)
    return {name: found[name] for name in COLUMNS[kind] if name in found}


def beam_row(kind, folder, run, data, config):
    """The run's SavedModel decoding the validation sources with beam search."""
    path = workflow.export_run(folder, run_id=run.name, out=folder / "saved_models")
    width = config["beam_width"]
    started = time.perf_counter()
    translations = inference.predict(
        path, list(data.validation.texts), options={"beam_width": width}
    )
    seconds = time.perf_counter() - started
    scores = metrics.translation_metrics(translations, list(data.validation.labels))
    values = {name: scores[name] for name in COLUMNS[kind]}
    return row(kind, f"  the same, beam search (width {width})", values, seconds)


def measure(kind, root, tune, overrides):
    """The table's rows for one template, its config changed by
    `overrides`."""
    from rnnkit.tuning.search import tune as search

    folder = root / kind
    tasks.copy_template(kind, folder, force=True)
    task = tasks.locate(folder)
    config = task.config(overrides)
    data = task.module.read_data(config, task.folder)
    rows = []
    for baseline in task.module.baselines(config, data):
        values = {name: baseline[name] for name in COLUMNS[kind] if name in baseline}
        rows.append(row(kind, baseline["name"], values, baseline["seconds"]))
    print(f"{kind}: baselines done; training the default model", flush=True)
    started = time.perf_counter()
    run = workflow.train(folder, overrides=overrides, verbose=0)
    seconds = time.perf_counter() - started
    name = f"rnnkit train (default: {describe(config)})"
    rows.append(row(kind, name, run_values(kind, run), seconds))
    if kind == "translation":
        rows.append(beam_row(kind, folder, run, data, config))
    if tune:
        print(f"{kind}: default training done; searching", flush=True)
        started = time.perf_counter()
        result = search(
            folder, overrides, print_fn=lambda line: print("  " + line, flush=True)
        )
        seconds = time.perf_counter() - started
        tuned = settings.read_toml(result.best_run / "config.toml")
        each = ", ".join(
            f"{cell} {value:.3f}" for cell, value in result.by_cell.items()
        )
        name = (
            f"rnnkit tune (default [search], {result.trials} trials; best: "
            f"{describe(tuned)}; best of each cell by {result.objective}: {each})"
        )
        rows.append(row(kind, name, run_values(kind, result.best_run), seconds))
        if kind == "translation":
            rows.append(beam_row(kind, folder, result.best_run, data, tuned))
    return rows


def markdown(rows):
    metric_names = [m for kind in COLUMNS.values() for m in kind]
    present = [m for m in metric_names if any(m in r for r in rows)]
    header = ["template", "model", *present, "seconds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["template"], r["model"]]
        cells += [f"{r[m]:.4g}" if m in r else "" for m in present]
        cells.append(f"{r['seconds']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    load_tensorflow()
    machine = f"{cpu_name()}, {os.cpu_count()} cores"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with contextlib.ExitStack() as stack:
        root = args.keep or pathlib.Path(
            stack.enter_context(tempfile.TemporaryDirectory())
        )
        for kind in args.templates:
            tune = args.tune is None or kind in args.tune
            rows += measure(kind, root, tune, set_overrides(args))
            # Written after each template, so a long run's results survive it.
            table = f"Machine: {machine}.\n\n" + markdown(rows)
            args.out.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
