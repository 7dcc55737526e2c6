"""`rnnkit demo`: the whole workflow on a task's bundled data.

new -> train -> export -> predict, in a temporary folder (or `--dir`), with
the same functions the CLI commands use.
"""

import pathlib
import tempfile

from rnnkit.templates import export, runs, tasks, workflow

SAMPLES = {
    "classification": [
        "My program dumped core after the kernel upgrade.",
        "The senator promised lower taxes and more votes.",
        "Never eat more than you can lift.",
    ],
    "generation": ["", "LAWYER, n.", "PHILOSOPHY, n."],
    "translation": ["Where is the station?", "I am very tired.", "That is no news."],
}
# Sampled, not greedy, and seeded so that the demo prints the same each time.
OPTIONS = {"generation": {"max_length": 160, "temperature": 0.7, "seed": 1}}


def headline(metrics):
    keys = (
        "accuracy",
        "macro_f1",
        "loss",
        "perplexity",
        "bits_per_token",
        "bleu",
        "chrf",
        "exact_match",
        "token_error_rate",
    )
    return ", ".join(f"{k} {metrics[k]:.4g}" for k in keys if k in metrics)


def run_workflow_demo(kind="classification", folder=None, epochs=None):
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(folder or scratch)
        task_dir = root / kind
        print(f"1. rnnkit new {kind} {task_dir}")
        tasks.copy_template(kind, task_dir, force=True)
        print(f"2. rnnkit train {task_dir}")
        overrides = {} if epochs is None else {"epochs": epochs}
        run = workflow.train(task_dir, overrides=overrides)
        validation = runs.metrics(run)
        print(f"   validation: {headline(validation)}")
        print(f"3. rnnkit export {task_dir} --out {root / 'saved_models'}")
        path = workflow.export_run(task_dir, out=root / "saved_models")
        print(f"   {path} (checked in a fresh TensorFlow process)")
        print(f"4. rnnkit predict {path}")
        prompts = SAMPLES[kind]
        answers = workflow.predict(path, prompts, options=OPTIONS.get(kind))
        for text, answer in zip(prompts, answers):
            print(f"   {text!r} -> {answer!r}")
        return validation, export.read_metadata(path)
