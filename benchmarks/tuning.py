"""Does a long search stay lean? Runs one `rnnkit tune` of many tiny trials
from this process and reports, after chosen trials, the resident memory of
the search process and of its trial worker, and the share of each trial's
wall time spent outside `model.fit`.

TensorFlow grows by 10-20 MiB per `fit` in one process, `clear_session()` or
not, so trials train in a worker process that is replaced once it has grown
by `RECYCLE_GROWTH_MIB` (see `rnnkit.tuning.worker`). Targets: the search
process flat from trial 1 to the last, the worker bounded, and under 15% of
a trial's time outside `fit`.

    python benchmarks/tuning.py                # 20 trials
    python benchmarks/tuning.py --trials 5 --report 1 5
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(
    0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "tuning")
)

import tiny_tasks  # noqa: E402  (the test suite's tiny template copies)

from rnnkit.tuning import search  # noqa: E402
from rnnkit.tuning.tuners import RECORD  # noqa: E402


def resident_mib():
    """This process's resident set size, from /proc (Linux)."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--report", type=int, nargs="+", default=[1, 10, 20])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as root:
        folder = tiny_tasks.make(
            "classification",
            root,
            search={"max_trials": args.trials, "epochs": args.epochs},
        )
        ends, memory = [], []

        def on_trial(line):
            ends.append(time.perf_counter())
            memory.append(resident_mib())

        search.tune(folder, print_fn=on_trial)
        # The first line is the search's header, printed once the data is
        # read: trial 1 starts there.
        started, ends, memory = ends[0], ends[1:], memory[1:]
        records = [
            json.loads(path.read_text())
            for path in sorted(
                (folder / "tuning" / "search").glob(f"trial_*/{RECORD}"),
                key=lambda p: int(p.parent.name.split("_")[1]),
            )
        ]
    # A trial's wall time runs from the previous trial's end to its own: it
    # holds Keras Tuner's bookkeeping and rnnkit's records as well as fit.
    walls = [b - a for a, b in zip([started, *ends], ends)]
    outside = [1 - r["fit_seconds"] / wall for r, wall in zip(records, walls)]
    print(
        f"{len(records)} trials of {args.epochs} epochs on a tiny classification task"
    )
    print("| after trial | search MiB | worker MiB | trial s | outside fit |")
    print("|---|---|---|---|---|")
    for number in args.report:
        i = number - 1
        print(
            f"| {number} | {memory[i]:.0f} | {records[i]['worker_mib']:.0f} | "
            f"{walls[i]:.2f} | {outside[i]:.1%} |"
        )
    first, last = args.report[0], args.report[-1]
    growth = memory[last - 1] - memory[first - 1]
    print(
        f"\nmemory from trial {first} to {last}: {growth:+.0f} MiB; "
        f"median share outside fit: {statistics.median(outside):.1%} "
        f"(trials 2 on: {statistics.median(outside[1:] or outside):.1%})"
    )


if __name__ == "__main__":
    main()
