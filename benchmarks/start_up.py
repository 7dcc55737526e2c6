"""How long a command waits for TensorFlow: the start-up every `rnnkit`
command but `new` pays, each in a fresh process.

Three starts, interleaved (each repetition runs every one in turn, after a
warm-up run each), in fresh interpreters:

- python: the bare interpreter, the floor;
- tensorflow: Keras and TensorFlow as a command that runs a task's code
  loads them (`quiet_start.load_tensorflow()`);
- tensorflow, SavedModels only: as `predict`, `info`, `serve` and the other
  commands that only run SavedModels load them, without Keras's
  scikit-learn and matplotlib integrations
  (`quiet_start.load_tensorflow(keras_extras=False)`).

It reports each one's median wall and CPU seconds (user and system time),
and the ml_dtypes version, whose 0.7.0 adds 1.3 s to every TensorFlow
start (see the README).

    python benchmarks/start_up.py --repeats 7
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

import machine

STARTS = {
    "python": "pass",
    "tensorflow": (
        "from rnnkit.templates import quiet_start\nquiet_start.load_tensorflow()"
    ),
    "tensorflow, SavedModels only": (
        "from rnnkit.templates import quiet_start\n"
        "quiet_start.load_tensorflow(keras_extras=False)"
    ),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    return parser.parse_args(argv)


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(code):
    """`(wall s, CPU s)` of a fresh interpreter running `code`."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start, children_cpu() - cpu


def measure(repeats):
    """`{start: (median wall s, median CPU s)}`, interleaved."""
    for code in STARTS.values():
        timed(code)  # warm-up: the files in the page cache
    runs = {name: [] for name in STARTS}
    for _ in range(repeats):
        for name, code in STARTS.items():
            runs[name].append(timed(code))
    return {
        name: tuple(statistics.median(part) for part in zip(*each))
        for name, each in runs.items()
    }


def versions():
    code = (
        "import ml_dtypes, tensorflow as t; print(ml_dtypes.__version__, t.__version__)"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    return found.stdout.split() or ["?", "?"]


def main(argv=None):
    args = parse_args(argv)
    ml_dtypes, tensorflow = versions()
    print(
        f"{machine.cpu_name()}, {os.cpu_count()} cores; TensorFlow {tensorflow}, "
        f"ml_dtypes {ml_dtypes}; medians of {args.repeats}, interleaved\n"
    )
    medians = measure(args.repeats)
    # CPU time is the steadier measure on a shared machine.
    _, base = medians["tensorflow"]
    print("| start | wall s | CPU s | CPU vs tensorflow |")
    print("|---|---|---|---|")
    for name, (wall, cpu) in medians.items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {cpu / base:.2f}x |")


if __name__ == "__main__":
    main()
