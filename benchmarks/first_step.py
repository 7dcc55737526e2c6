"""Time to a template's first training steps: what `rnnkit train` waits for
once TensorFlow has loaded (see start_up.py for that part).

Keras traces a model's train and test functions on its first `fit`, and on
two cores that takes longer than many epochs of a small task. Each template,
with its default config on its bundled data, is built and fitted for one
short epoch (`--steps` batches) in a fresh process, once with rnnkit's
layers and once with the Keras built-ins in their place (as templates.py
swaps them), the order flipping every repetition; then a second epoch of
the same batches, already traced. The table gives the medians: the first
epoch (build, trace, train) and the second, in seconds.

    python benchmarks/first_step.py --repeats 3

Ratios above 1.0 mean rnnkit is faster.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import machine
from untrained import add_set_option, set_overrides

KINDS = ("classification", "translation", "generation")
LIBRARIES = ("rnnkit", "keras")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--steps", type=int, default=4, help="batches per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    add_set_option(parser, "template's", "units=64 (the same for every template)")
    parser.add_argument(
        "--worker", nargs=2, metavar=("KIND", "LIBRARY"), help="internal"
    )
    return parser.parse_args(argv)


def first_epochs(kind, library, args):
    """`{"first": s, "second": s}`: one process's two epochs."""
    import templates
    from rnnkit.templates import tasks, workflow

    task = tasks.locate(kind)
    config = task.config(set_overrides(args))
    data = task.module.read_data(config, task.folder)
    train, _ = task.module.datasets(config, data)
    batches = templates.kept_batches(train, args.steps)
    if library == "keras":
        task.module.get_layer = templates.keras_layer
    seconds = {}
    start = time.perf_counter()
    model = workflow.built_model(task, config, data)
    for epoch in ("first", "second"):
        model.fit(batches, epochs=1, shuffle=False, verbose=0)
        seconds[epoch] = time.perf_counter() - start
        start = time.perf_counter()
    return seconds


def in_fresh_process(kind, library, args):
    command = [sys.executable, __file__, "--worker", kind, library]
    command += ["--steps", str(args.steps)]
    for assignment in args.set:
        command += ["--set", assignment]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{kind} with {library}'s layers failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def row(kind, runs):
    """A table row from `runs[library]`, a list of `{"first", "second"}`."""
    medians = {
        (library, epoch): statistics.median(run[epoch] for run in runs[library])
        for library in LIBRARIES
        for epoch in ("first", "second")
    }
    cells = []
    for epoch in ("first", "second"):
        ours, theirs = medians["rnnkit", epoch], medians["keras", epoch]
        cells += [f"{ours:.2f}", f"{theirs:.2f}", f"{theirs / ours:.2f}x"]
    return f"| {kind} | " + " | ".join(cells) + " |"


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(first_epochs(*args.worker, args)))
        return
    print(
        f"{machine.cpu_name()}, {os.cpu_count()} cores; {args.steps} batches an "
        f"epoch, medians of {args.repeats} fresh processes each, interleaved\n"
    )
    print(
        "| template | first epoch, rnnkit s | Keras s | ratio "
        "| second epoch, rnnkit s | Keras s | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in args.kinds:
        runs = {library: [] for library in LIBRARIES}
        for repeat in range(args.repeats):
            order = LIBRARIES if repeat % 2 == 0 else LIBRARIES[::-1]
            for library in order:
                runs[library].append(in_fresh_process(kind, library, args))
        print(row(kind, runs), flush=True)


if __name__ == "__main__":
    main()
