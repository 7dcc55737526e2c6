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
}


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
        print(
            f"   validation accuracy {validation['accuracy']:.1%}, macro-F1 "
            f"{validation['macro_f1']:.3f} on {validation['examples']} texts"
        )
        print(f"3. rnnkit export {task_dir} --out {root / 'saved_models'}")
        path = workflow.export_run(task_dir, out=root / "saved_models")
        print(f"   {path} (checked in a fresh TensorFlow process)")
        print(f"4. rnnkit predict {path}")
        for text, answer in zip(SAMPLES[kind], workflow.predict(path, SAMPLES[kind])):
            print(f"   {answer:>12}  <- {text}")
        return validation, export.read_metadata(path)
