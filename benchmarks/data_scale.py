"""Data larger than memory: peak memory and time of `streaming = true`
against reading the data into memory, as the data grows.

It writes classification CSVs (rows of the bundled fortunes, each one's
words shuffled, so that no two rows are alike) and generation texts (the
bundled Devil's Dictionary, its entries shuffled, to the size asked), then
measures each case in a fresh process: reading the data (`read_data`),
building the vocabulary and the model (`build_model`; generation counts
its vocabulary while reading), and the first 50 steps of an epoch. Peak
RSS is the process's high-water mark after each phase.

    python benchmarks/data_scale.py                       # the README's table
    python benchmarks/data_scale.py --rows 10000 --megabytes 1
"""

import argparse
import csv
import json
import os
import pathlib
import random
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STEPS = 50
MODES = ("memory", "streaming")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="*", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--megabytes", type=float, nargs="*", default=[1, 10, 100])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--case", help=argparse.SUPPRESS)  # one measurement, in a child
    return parser.parse_args(argv)


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# The data -------------------------------------------------------------------


def template_data(kind, name):
    from rnnkit.templates import tasks

    return tasks.template_folder(kind) / "data" / name


def write_classification(path, rows, rng):
    with open(template_data("classification", "fortunes.csv"), newline="") as file:
        examples = [(row["text"].split(), row["label"]) for row in csv.DictReader(file)]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        for _ in range(rows):
            words, label = rng.choice(examples)
            writer.writerow([" ".join(rng.sample(words, len(words))), label])


def write_generation(path, megabytes, rng):
    text = template_data("generation", "devils_dictionary.txt").read_text()
    entries = [entry for entry in text.split("\n\n") if entry.strip()]
    goal = int(megabytes * 1_000_000)
    with open(path, "w") as file:
        while file.tell() < goal:
            file.write(rng.choice(entries) + "\n\n")


# One case, in its own process --------------------------------------------------


def measure(kind, path, mode, steps):
    """`{phase: (seconds, peak MiB)}` of reading, the model and `steps` steps."""
    import keras

    from rnnkit.templates import tasks

    task = tasks.locate(kind)
    config = task.config({"data": str(path), "streaming": mode == "streaming"})
    keras.utils.set_random_seed(config["seed"])
    phases = {"start": (0.0, peak_mib())}
    started = time.perf_counter()
    data = task.module.read_data(config, task.folder)
    phases["read"] = (time.perf_counter() - started, peak_mib())
    started = time.perf_counter()
    model = task.module.build_model(config, data)
    phases["vocabulary and model"] = (time.perf_counter() - started, peak_mib())
    started = time.perf_counter()
    train, _ = task.module.datasets(config, data)
    model.fit(train.take(steps), epochs=1, verbose=0)
    phases[f"{steps} steps"] = (time.perf_counter() - started, peak_mib())
    return phases


def run_case(kind, path, mode, steps):
    case = json.dumps([kind, str(path), mode, steps])
    result = subprocess.run(
        [sys.executable, __file__, "--case", case], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"{kind} {mode} {path.name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def table(results, size_name):
    """Markdown rows: each size's phases, and streaming's peak against
    reading into memory at the same size."""
    lines = [
        f"| data | {size_name} | mode | read s | vocabulary and model s | "
        f"{STEPS} steps s | peak MiB | peak vs memory |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (kind, size), by_mode in results.items():
        base = by_mode.get("memory")
        for mode, phases in by_mode.items():
            seconds = [f"{phases[p][0]:.1f}" for p in list(phases)[1:]]
            peak = max(p[1] for p in phases.values())
            ratio = f"{peak / max(p[1] for p in base.values()):.2f}×" if base else "-"
            lines.append(
                f"| {kind} | {size:,} | {mode} | {' | '.join(seconds)} | "
                f"{peak:,.0f} | {ratio} |"
            )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.case:
        kind, path, mode, steps = json.loads(args.case)
        phases = measure(kind, pathlib.Path(path), mode, steps)
        print(json.dumps(phases))
        return
    global STEPS
    STEPS = args.steps
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        results = {}
        for rows in args.rows:
            path = folder / f"classification-{rows}.csv"
            write_classification(path, rows, rng)
            results[("classification", rows)] = {
                mode: run_case("classification", path, mode, args.steps)
                for mode in args.modes
            }
        print(table(results, "rows"), end="\n\n", flush=True)
        results = {}
        for megabytes in args.megabytes:
            path = folder / f"generation-{megabytes:g}MB.txt"
            write_generation(path, megabytes, rng)
            size = path.stat().st_size
            results[("generation", size)] = {
                mode: run_case("generation", path, mode, args.steps)
                for mode in args.modes
            }
        print(table(results, "bytes"))


if __name__ == "__main__":
    main()
