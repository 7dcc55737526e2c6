"""Long-range memory: tanh RNN, GRU and LSTM on the adding and copy tasks.

Each cell type trains with the same budget (steps, batch, units, optimizer)
and the same seeds on fresh batches of the task; every `--eval-every` steps
the script scores a fixed test set. It prints, per task and cell, the final
test error (mean ± std over seeds), the steps it took to first fall below
half the baseline, and the wall time, and plots test error against steps.

- adding (Hochreiter & Schmidhuber 1997): T steps of (value, marker), the
  target is the sum of the two marked values; error is MSE, and predicting
  the mean scores 1/6.
- copy (Arjovsky, Shah & Bengio 2016): 10 symbols, T blanks, recall the
  symbols; error is cross-entropy per step, and the blank-then-guess
  baseline scores 10 log 8 / (T + 20).

    python benchmarks/memory_tasks.py                    # T=150, both tasks
    python benchmarks/memory_tasks.py --tasks adding --steps 3000 --seeds 0 1
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from rnnkit.layers import CELL_TYPES, diagnostics, get_layer  # noqa: E402

TASKS = ("adding", "copy")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--kinds", nargs="+", choices=CELL_TYPES, default=CELL_TYPES)
    parser.add_argument("--timesteps", type=int, default=150, help="T")
    parser.add_argument("--steps", type=int, default=1500, help="training steps")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--test-size", type=int, default=512)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="memory_tasks.png", help="the PNG to write")
    args = parser.parse_args(argv)
    if args.timesteps < 2 or args.steps < 1 or args.eval_every < 1:
        parser.error("--timesteps must be >= 2, --steps and --eval-every >= 1")
    return args


def task_data(task, samples, timesteps, seed):
    if task == "adding":
        return diagnostics.adding_problem(samples, timesteps, seed)
    return diagnostics.copy_memory(samples, timesteps, seed)


def baseline(task, timesteps):
    if task == "adding":
        return diagnostics.ADDING_BASELINE
    return float(diagnostics.copy_baseline(timesteps))


def build(task, kind, args, features):
    many_to_many = task == "copy"
    model = keras.Sequential(
        [
            keras.Input((None, features)),
            get_layer(kind, args.units, return_sequences=many_to_many),
            keras.layers.Dense(diagnostics.COPY_SYMBOLS + 1 if many_to_many else 1),
        ]
    )
    loss = (
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if many_to_many
        else "mse"
    )
    # The same clipping as the templates' default, so no cell is lost to one
    # exploding step; the comparison is about what the cells can remember.
    model.compile(keras.optimizers.Adam(args.learning_rate, clipnorm=1.0), loss)
    return model


def train(task, kind, seed, args):
    """`(steps, test errors, seconds, parameters)` of one training run."""
    keras.utils.set_random_seed(seed)
    test_x, test_y = task_data(task, args.test_size, args.timesteps, 10_000 + seed)
    model = build(task, kind, args, test_x.shape[-1])
    steps, errors, done, seconds = [0], [], 0, 0.0
    errors.append(model.evaluate(test_x, test_y, batch_size=256, verbose=0))
    while done < args.steps:
        chunk = min(args.eval_every, args.steps - done)
        # Fresh batches every chunk: the models cannot memorise a training set.
        x, y = task_data(task, chunk * args.batch, args.timesteps, seed * 7919 + done)
        start = time.perf_counter()
        model.fit(x, y, batch_size=args.batch, epochs=1, shuffle=False, verbose=0)
        seconds += time.perf_counter() - start
        done += chunk
        steps.append(done)
        errors.append(model.evaluate(test_x, test_y, batch_size=256, verbose=0))
    return np.array(steps), np.array(errors), seconds, model.count_params()


def first_below(steps, errors, level):
    """The first evaluated step whose error is below `level`, or None."""
    below = np.nonzero(errors < level)[0]
    return int(steps[below[0]]) if below.size else None


def summarise(task, kind, runs, args):
    steps = runs[0][0]
    errors = np.stack([r[1] for r in runs])  # (seeds, evaluations)
    final = errors[:, -1]
    reached = [
        first_below(steps, e, baseline(task, args.timesteps) / 2) for e in errors
    ]
    return {
        "task": task,
        "kind": kind,
        "steps": steps,
        "mean": errors.mean(axis=0),
        "final": f"{final.mean():.4f} ± {final.std():.4f}",
        "reached": ", ".join("—" if r is None else str(r) for r in reached),
        "seconds": np.mean([r[2] for r in runs]),
        "params": runs[0][3],
    }


def print_table(results, args):
    print(
        f"\nT={args.timesteps}, {args.steps} steps of batch {args.batch}, "
        f"{args.units} units, Adam({args.learning_rate}, clipnorm=1), "
        f"seeds {args.seeds}"
    )
    print(
        "| task | cell | parameters | final test error | baseline "
        "| steps to half the baseline | train seconds |"
    )
    print("|---|---|---:|---|---:|---|---:|")
    for r in results:
        print(
            f"| {r['task']} | {r['kind']} | {r['params']:,} | {r['final']} "
            f"| {baseline(r['task'], args.timesteps):.4f} | {r['reached']} "
            f"| {r['seconds']:.0f} |"
        )


def plot(results, args):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(
        1, len(args.tasks), figsize=(5 * len(args.tasks), 3.6), squeeze=False
    )
    for ax, task in zip(axes[0], args.tasks):
        for r in (r for r in results if r["task"] == task):
            ax.plot(r["steps"], r["mean"], label=r["kind"])
        ax.axhline(baseline(task, args.timesteps), color="grey", ls="--", lw=1)
        ax.set_title(f"{task}, T={args.timesteps} (dashed: baseline)")
        ax.set_xlabel("training step")
        ax.set_ylabel("test MSE" if task == "adding" else "test cross-entropy")
        ax.set_yscale("log")
        ax.legend()
    figure.tight_layout()
    figure.savefig(args.out, dpi=80)
    plt.close(figure)


def main(argv=None):
    args = parse_args(argv)
    results = []
    for task in args.tasks:
        for kind in args.kinds:
            runs = [train(task, kind, seed, args) for seed in args.seeds]
            results.append(summarise(task, kind, runs, args))
            print(f"{task} {kind}: final test error {results[-1]['final']}")
    print_table(results, args)
    plot(results, args)
    print(f"\n{args.out}")


if __name__ == "__main__":
    main()
