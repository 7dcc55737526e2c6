"""`rnnkit demo`: the whole workflow on a task's bundled data.

new -> tune -> export -> predict, in `./rnnkit-demo` (or `--dir`), with the
same functions the CLI commands use: a small search whose best trial is
exported. The folder is kept, so the demo ends with the `rnnkit serve` and
`curl` lines that serve its export and ask it a question.
"""

import json
import pathlib
import shlex

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
FOLDER = "rnnkit-demo"


def run_workflow_demo(kind="classification", folder=None, epochs=None, trials=None):
    """new -> tune (`trials` trials of up to `epochs` epochs each; by default
    the `BUDGETS` of `kind`) -> export -> predict, in `folder` (default
    `./rnnkit-demo`); then the commands that serve the export."""
    from rnnkit.tuning.search import tune

    trials = trials or BUDGETS[kind][0]
    epochs = epochs or BUDGETS[kind][1]
    root = pathlib.Path(folder or FOLDER)
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
    for line in serving_lines(path.parent, prompts[-1]):
        print(line)
    return validation, export.read_metadata(path)


def serving_lines(model_folder, text, port=8501):
    """The `rnnkit serve` command for an export's folder, and a `curl` that
    asks the served model about `text` (both as a user would paste them)."""
    name = model_folder.name
    body = json.dumps({"instances": [text]})
    url = f"http://localhost:{port}/v1/models/{name}:predict"
    return [
        "5. Serve it with TF Serving's REST API (Ctrl-C stops it):",
        f"   rnnkit serve {shlex.quote(str(model_folder))}",
        "   and from another terminal:",
        f"   curl -d {shlex.quote(body)} {url}",
    ]
