"""Helpers shared by the CLI tests: running `rnnkit` in a subprocess, reading
its one-line errors, and tiny labelled data sets."""

import csv
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import types

MODULE = [sys.executable, "-m", "rnnkit"]
# TensorFlow's own C++ start-up logging (absl), which TF_CPP_MIN_LOG_LEVEL does
# not silence before absl is initialised; it is not rnnkit's output.
TF_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} )")

# Small enough that a training run takes seconds on two CPU cores.
TINY = [
    "--epochs",
    "1",
    "--set",
    "units=8",
    "--set",
    "embedding_dim=8",
    "--set",
    "batch_size=8",
    "--set",
    "sequence_length=12",
]
VOCABULARY = {
    "cooking": "oven recipe flour butter sugar bake salt pepper".split(),
    "space": "rocket orbit planet star moon galaxy comet launch".split(),
    "sports": "ball goal team match score player coach league".split(),
}
LABELS = sorted(VOCABULARY)


def run(args, command=MODULE, timeout=300, env_overrides=None, **kwargs):
    """Runs rnnkit; `env_overrides` change its environment (None: unset)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_overrides or {})}
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in env.items() if v is not None},
        **kwargs,
    )


def next_to_python(name):
    """A console script installed beside this interpreter, or on PATH."""
    bindir = os.path.dirname(sys.executable)
    return shutil.which(name, path=os.pathsep.join([bindir, os.defpath]))


def console_script():
    """The `rnnkit` entry point next to this interpreter, or on PATH."""
    return next_to_python("rnnkit")


def stderr_lines(result):
    """stderr without TensorFlow's absl start-up lines."""
    return [line for line in result.stderr.splitlines() if not TF_LOG_LINE.match(line)]


def one_error_line(result, command, status=2):
    """The single `rnnkit <command>: error: ...` line of a failed command,
    which exited with `status` (2: bad input, 3: the OS, 4: a damaged file)."""
    assert result.returncode == status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rnnkit {command}: error: "), lines[0]
    return lines[0]


def examples(per_label=14, seed=0, words=6):
    """`(text, label)` rows; each label has its own vocabulary."""
    rng = random.Random(seed)
    return [
        (" ".join(rng.choices(VOCABULARY[label], k=words)), label)
        for _ in range(per_label)
        for label in LABELS
    ]


def write_csv(path, rows, header=("text", "label")):
    path = pathlib.Path(path)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def new_task(folder):
    result = run(["new", "classification", str(folder)])
    assert result.returncode == 0, result.stderr
    return pathlib.Path(folder)


def train_and_export(root, kind, data, flags, reports=()):
    """`rnnkit new <kind>`, `train` on `data` with `flags` and `export` into
    `root`; checks that train printed each of `reports`. Returns the path
    export printed."""
    task = pathlib.Path(root) / "task"
    assert run(["new", kind, str(task)]).returncode == 0
    trained = run(["train", str(task), "--data", str(data), *flags])
    assert trained.returncode == 0, trained.stderr
    for text in reports:
        assert text in trained.stdout, trained.stdout
    result = run(["export", str(task), "--out", str(pathlib.Path(root) / "out")])
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def run_folders(task):
    """Every run folder of `task`, finished or not."""
    return sorted((pathlib.Path(task) / "runs").glob("*"))


# One trained task and its export, shared by every test module that asks for
# them (a conftest.py here would shadow tests/conftest.py for tests/layers).
_SHARED = {}


def trained_task(tmp_path_factory):
    """A task made by `rnnkit new` and trained once by `rnnkit train` (the
    console script where there is one) on tiny data, with a default run id."""
    if "trained" not in _SHARED:
        script = [console_script()] if console_script() else MODULE
        root = tmp_path_factory.mktemp("workflow")
        data = write_csv(root / "data.csv", examples())
        task = root / "task"
        result = run(["new", "classification", str(task)], script)
        assert result.returncode == 0, result.stderr
        result = run(["train", str(task), "--data", str(data), *TINY], script)
        assert result.returncode == 0, result.stderr
        *_, folder, summary = result.stdout.splitlines()
        _SHARED["trained"] = types.SimpleNamespace(
            root=root, data=data, task=task, run=pathlib.Path(folder), summary=summary
        )
    return _SHARED["trained"]


def exported_model(trained):
    """`<root>/saved_models/clf/1`, the export of the trained run."""
    if "exported" not in _SHARED:
        out = trained.root / "saved_models"
        args = ["export", str(trained.task), "--run", trained.run.name]
        result = run([*args, "--out", str(out), "--name", "clf"])
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(out / "clf" / "1")
        # Readable by a server running as another user.
        assert (out / "clf" / "1").stat().st_mode & 0o777 == 0o755
        _SHARED["exported"] = out / "clf" / "1"
    return _SHARED["exported"]
