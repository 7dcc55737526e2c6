"""`rnnkit demo`: the whole workflow on a task's bundled data.

new -> tune -> export -> predict, in a temporary folder (or `--dir`), with
the same functions the CLI commands use: a small search whose best trial is
exported.
"""

import pathlib
import tempfile

from rnnkit.templates import export, inference, runs, tasks, workflow

SAMPLES = {
    "classification": [
        "My program dumped core after the kernel upgrade.",
        "The senator promised lower taxes and more votes.",
        "Never eat more than you can lift.",
    ],
    "generation": ["", "LAWYER, n.", "PHILOSOPHY, n."],
    "translation": [
        "The king said to his servants, Go in peace.",
        "I will give you water and bread.",
        "Where is your brother?",
    ],
}
# Sampled, not greedy, and seeded so that the demo prints the same each time.
OPTIONS = {"generation": {"max_length": 160, "temperature": 0.7, "seed": 1}}


# A quick look, not the best model: (trials, epochs per trial). Three trials
# are the defaults with each cell type. A translation epoch on the bundled
# 19,000 pairs takes minutes on two cores, so that demo trains one trial.
BUDGETS = {"classification": (3, 5), "generation": (3, 5), "translation": (1, 3)}


def run_workflow_demo(kind="classification", folder=None, epochs=None, trials=None):
    """new -> tune (`trials` trials of up to `epochs` epochs each; by default
    the `BUDGETS` of `kind`) -> export -> predict."""
    from rnnkit.tuning.search import tune

    trials = trials or BUDGETS[kind][0]
    epochs = epochs or BUDGETS[kind][1]

    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(folder or scratch)
        task_dir = root / kind
        print(f"1. rnnkit new {kind} {task_dir}")
        tasks.copy_template(kind, task_dir, force=True)
        budget = {"max_trials": trials, "epochs": epochs}
        print(f"2. rnnkit tune {task_dir} --max-trials {trials}")
        result = tune(task_dir, {"search": budget}, overwrite=True)
        validation = runs.metrics(result.best_run)
        print(f"   best run {result.best_run.name}: {runs.headline(validation)}")
        print(f"   leaderboard: {result.leaderboard}")
        print(f"3. rnnkit export {task_dir} --out {root / 'saved_models'}")
        path = workflow.export_run(task_dir, out=root / "saved_models")
        print(f"   {path} (checked in a fresh TensorFlow process)")
        print(f"4. rnnkit predict {path}")
        prompts = SAMPLES[kind]
        answers = inference.predict(path, prompts, options=OPTIONS.get(kind))
        for text, answer in zip(prompts, answers):
            print(f"   {text!r} -> {answer!r}")
        return validation, export.read_metadata(path)
