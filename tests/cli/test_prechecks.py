"""A wrong target answers before TensorFlow loads: `export`, `evaluate` and
`diagnose` of a task without the run they need, the SavedModel commands on a
folder that is not an rnnkit export, `serve` of a folder with nothing to
serve, and `train` or `evaluate` of data that is not there. The messages are
the ones the library gives after loading (tests/cli/test_workflow_errors.py
and others); here each command runs in a fresh process that must not have
imported TensorFlow."""

import subprocess
import sys

import pytest
from cli_support import new_task

# cli.main, then whether TensorFlow was imported, on stdout's last line.
SCRIPT = (
    "import sys\n"
    "from rnnkit import cli\n"
    "status = cli.main(sys.argv[1:])\n"
    "print('tensorflow' in sys.modules)\n"
    "sys.exit(status)\n"
)


def run_without_tensorflow(args, cwd):
    """The one error line of `rnnkit <args>` and its exit status; fails if
    TensorFlow was imported on the way."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    assert result.stdout.splitlines()[-1:] == ["False"], result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rnnkit {args[0]}: error: "), lines[0]
    return lines[0], result.returncode


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A fresh task `fresh`, a folder that looks like a SavedModel but has no
    rnnkit metadata, one whose metadata is damaged, an empty one, and one
    that looks like a run folder."""
    root = tmp_path_factory.mktemp("prechecks")
    new_task(root / "fresh")
    (root / "empty").mkdir()
    (root / "run").mkdir()
    (root / "run" / "model.keras").write_bytes(b"")
    for name in ("bare", "damaged"):
        (root / name / "assets").mkdir(parents=True)
        (root / name / "saved_model.pb").write_bytes(b"")
    (root / "damaged" / "assets" / "rnnkit.json").write_text("{not json")
    return root


@pytest.mark.parametrize(
    "args, expected",
    [
        (["export", "fresh"], "fresh: no completed runs in runs/; run `rnnkit train`"),
        (
            ["export", "fresh", "--run", "nope"],
            "no completed run 'nope'. Completed: []",
        ),
        (["export", "nowhere"], "nowhere: neither a task folder (no task.py)"),
        (["evaluate", "fresh", "--data", "x.csv"], "fresh: no completed runs in runs/"),
        (
            ["evaluate", "fresh", "--run", "nope", "--data", "x.csv"],
            "no completed run 'nope'",
        ),
        (["evaluate", "nowhere", "--data", "x.csv"], "nowhere: neither a task folder"),
        (["diagnose", "gates", "fresh", "a text"], "fresh: no completed runs in runs/"),
        (["diagnose", "gates", "nowhere", "a text"], "nowhere: neither a task folder"),
        (["diagnose", "gradients", "nowhere"], "nowhere: neither a task folder"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_a_task_without_the_run_answers_before_tensorflow(folder, args, expected):
    line, status = run_without_tensorflow(args, folder)
    assert status == 2
    assert expected in line


@pytest.mark.parametrize(
    "command", ["predict", "generate", "translate", "attention", "info"]
)
def test_saved_model_commands_check_the_folder_before_tensorflow(folder, command):
    texts = [] if command == "info" else ["a text"]
    line, status = run_without_tensorflow([command, "fresh", *texts], folder)
    assert "fresh: not a SavedModel (no saved_model.pb) nor a folder of versions" in (
        line
    )
    assert status == 2


@pytest.mark.parametrize(
    "name, expected, status",
    [
        ("bare", "rnnkit.json: missing; not an rnnkit export", 2),
        ("damaged", "rnnkit.json: the export's metadata is damaged (not JSON", 4),
    ],
)
def test_an_export_without_readable_metadata_answers_before_tensorflow(
    folder, name, expected, status
):
    for args in (["predict", name, "a text"], ["evaluate", name, "--data", "x.csv"]):
        line, got = run_without_tensorflow(args, folder)
        assert f"{name}/assets/" in line and expected in line
        assert got == status


@pytest.mark.parametrize(
    "name, expected",
    [
        ("missing", "missing: no such folder; give an export's folder"),
        ("empty", "empty: no version folder (1, 2, ...) with a loadable SavedModel"),
    ],
)
def test_serve_of_nothing_to_serve_answers_before_tensorflow(folder, name, expected):
    line, status = run_without_tensorflow(["serve", name], folder)
    assert expected in line
    assert status == 2


def test_data_that_is_not_there_answers_before_tensorflow(folder):
    for args in (
        ["train", "fresh", "--data", "missing.csv"],
        ["evaluate", "run", "--data", "missing.csv"],
    ):
        line, status = run_without_tensorflow(args, folder)
        assert "missing.csv: no such file or folder (the data path)" in line
        assert status == 2
