"""Does a long search stay lean, and how much does `--workers` gain?

By default, runs one `rnnkit tune` of many tiny trials from this process
and reports, after chosen trials, the resident memory of the search process
and of its trial worker, and the share of each trial's wall time spent
outside `model.fit`. TensorFlow grows by 10-20 MiB per `fit` in one process,
`clear_session()` or not, so trials train in a worker process that is
replaced once it has grown by `RECYCLE_GROWTH_MIB` (see
`rnnkit.tuning.worker`). Targets: the search process flat from trial 1 to
the last, the worker bounded, and under 15% of a trial's time outside `fit`.

With `--workers`, runs the same search (same seed, so the same trials) with
each number of workers, `--repeats` times in turn, and reports trials per
hour against one worker measured in the same run. The wall time is the
whole search's, the workers' start-up included, as a user waits for it.

    python benchmarks/tuning.py                # 20 trials
    python benchmarks/tuning.py --trials 5 --report 1 5
    python benchmarks/tuning.py --workers 1 2 --trials 8 --repeats 2
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

from rnnkit.tuning import parallel, search  # noqa: E402
from rnnkit.tuning.tuners import RECORD  # noqa: E402


def resident_mib():
    """This process's resident set size, from /proc (Linux)."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def trial_records(folder):
    """Each trial's rnnkit record, in trial order."""
    return [
        json.loads(path.read_text())
        for path in sorted(
            (folder / "tuning" / "search").glob(f"trial_*/{RECORD}"),
            key=lambda p: int(p.parent.name.split("_")[1]),
        )
    ]


def trial_values(folder):
    """Each trial's hyperparameter values, in trial order."""
    paths = (folder / "tuning" / "search").glob("trial_*/trial.json")
    trials = {
        int(p.parent.name.split("_")[1]): json.loads(p.read_text()) for p in paths
    }
    return [trials[n]["hyperparameters"]["values"] for n in sorted(trials)]


def timed_search(root, workers, args):
    """One search with `workers` workers: its wall seconds, its records and
    its trials' hyperparameter values."""
    folder = tiny_tasks.make(
        "classification",
        tempfile.mkdtemp(dir=root),
        search={"max_trials": args.trials, "epochs": args.epochs},
    )
    started = time.perf_counter()
    search.tune(folder, print_fn=lambda line: None, workers=workers)
    wall = time.perf_counter() - started
    return wall, trial_records(folder), trial_values(folder)


def scaling(args):
    """The same search with each number of workers, `--repeats` times in
    turn (so that a busy spell of the machine hits each alike): the median
    search's trials per hour."""
    runs = {workers: [] for workers in args.workers}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as root:
        for _ in range(args.repeats):
            for workers in args.workers:
                runs[workers].append(timed_search(root, workers, args))
    cores = parallel.core_count()
    values = [run[2] for each in runs.values() for run in each]
    same = "yes" if all(v == values[0] for v in values) else "NO"
    print(
        f"{args.trials} trials of {args.epochs} epochs on a tiny classification "
        f"task, {cores} cores, median of {args.repeats}; the same trials each "
        f"time: {same}; load average {load:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print(
        "| workers | threads each | wall s | trials/hour | vs 1 worker "
        "| trials s | trials/hour once started | vs 1 worker | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    bases = None
    for workers, each in runs.items():
        wall = statistics.median(run[0] for run in each)
        span = statistics.median(trials_span(run[1]) for run in each)
        rates = (args.trials / wall * 3600, args.trials / span * 3600)
        bases = bases or (rates if workers == 1 else None)
        ratios = [f"{r / b:.2f}x" for r, b in zip(rates, bases)] if bases else "--"
        records = [record for run in each for record in run[1]]
        threads = records[0]["threads"]["intra_op"] or cores  # 0: every core
        fit = statistics.median(r["fit_seconds"] for r in records)
        print(
            f"| {workers} | {threads} | {wall:.1f} | {rates[0]:.0f} | {ratios[0]} "
            f"| {span:.1f} | {rates[1]:.0f} | {ratios[1]} | {fit:.2f} |"
        )
    print(
        "\nwall s: the whole search, the workers' start-up included; trials s: "
        "from the first trial's start to the last one's end; threads each: "
        "intra-op threads of each training process; fit s: the median trial's "
        "time in model.fit"
    )


def trials_span(records):
    """Seconds from the first trial's start to the last trial's end."""
    return max(r["ended"] for r in records) - min(r["began"] for r in records)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--report", type=int, nargs="+", default=[1, 10, 20])
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        help="compare these numbers of workers (start with 1) instead",
    )
    parser.add_argument("--repeats", type=int, default=1, help="with --workers")
    args = parser.parse_args()
    if args.workers:
        scaling(args)
        return

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
        records = trial_records(folder)
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
