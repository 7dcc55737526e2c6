"""Damaged runs and exports (RELIABILITY.md 13, 14, 37): a truncated
`metrics.json`, `metadata.json`, `model.keras`, `rnnkit.json` or
`saved_model.pb`, or a SavedModel without `variables/`, is one line naming
the file, exit 4. A damaged run never blocks exporting the good ones: it is
skipped with a warning naming its file. An existing version is replaced only
with --force."""

import json
import shutil

import pytest
from support import (
    attempt,
    check_error,
    classification,
    copy,
    fails,
    only_changes,
    truncate,
)

pytestmark = pytest.mark.slow
# What the shared builds of `support` must hold for this module.
SHARED_BUILDS = ("classification",)


@pytest.fixture(scope="module")
def clf(tmp_path_factory, request):
    return classification(tmp_path_factory, request.session)


# Damaged exports ---------------------------------------------------------------


def without_variables(model):
    shutil.rmtree(model / "variables")
    return model / "variables"


def truncated_saved_model(model):
    return truncate(model / "saved_model.pb")


def truncated_metadata(model):
    return truncate(model / "assets" / "rnnkit.json")


def metadata_not_json(model):
    (model / "assets" / "rnnkit.json").write_text("task = classification\n")
    return model / "assets" / "rnnkit.json"


DAMAGES = [
    without_variables,
    truncated_saved_model,
    truncated_metadata,
    metadata_not_json,
]


def command_args(command, model, data):
    return {
        "predict": ["predict", model, "oven flour butter"],
        "info": ["info", model],
        "evaluate": ["evaluate", model, "--data", data],
    }[command]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
@pytest.mark.parametrize("command", ["predict", "info", "evaluate"])
def test_a_damaged_export(clf, tmp_path, command, damage):
    model = copy(clf.export, tmp_path / "out" / "clf" / "1")
    damaged = damage(model)
    with only_changes(tmp_path):
        fails(
            command_args(command, model, clf.data),
            command,
            4,
            damaged,
            cwd=tmp_path,
        )


def test_an_existing_version_is_kept_without_force(clf, tmp_path):
    task = copy(clf.task, tmp_path / "task")
    out = tmp_path / "out"
    copy(clf.export, out / "clf" / "1")
    with only_changes(tmp_path):
        fails(
            ["export", task, "--out", out, "--name", "clf", "--version", "1"],
            "export",
            2,
            out / "clf" / "1",
            "--force",
            cwd=tmp_path,
        )


# Damaged runs --------------------------------------------------------------------


def best_run(task):
    """The run that "the best run" picks of the undamaged runs: the highest
    validation accuracy, the first by name on a tie."""
    runs = sorted((task / "runs").iterdir())
    accuracy = {
        run: json.loads((run / "metrics.json").read_text())["accuracy"] for run in runs
    }
    best = max(runs, key=accuracy.get)
    return best, [run for run in runs if run != best][0]


@pytest.mark.parametrize("file", ["metrics.json", "metadata.json"])
def test_a_damaged_run_is_skipped_for_the_good_one(clf, tmp_path, file):
    task = copy(clf.task, tmp_path / "task")
    damaged_run, good_run = best_run(task)  # damage the one that would be picked
    damaged = truncate(damaged_run / file)
    out = tmp_path / "out"
    with only_changes(tmp_path, allowed=[out]):
        result = attempt(["export", task, "--out", out], tmp_path)
    assert result.status == 0, result.describe()
    warnings = [line for line in result.stderr.splitlines() if str(damaged) in line]
    assert warnings, f"no warning naming {damaged}:\n{result.describe()}"
    exported = out / "task" / "1"
    assert result.stdout.strip().splitlines()[-1] == str(exported), result.describe()
    meta = json.loads((exported / "assets" / "rnnkit.json").read_text())
    assert meta["run"] == good_run.name


@pytest.mark.parametrize("file", ["metrics.json", "metadata.json", "model.keras"])
def test_exporting_the_only_run_when_it_is_damaged(clf, tmp_path, file):
    task = copy(clf.task, tmp_path / "task")
    shutil.rmtree(task / "runs" / "r2")
    damaged = truncate(task / "runs" / "r1" / file)
    with only_changes(tmp_path):
        fails(
            ["export", task, "--out", tmp_path / "out"],
            "export",
            4,
            damaged,
            cwd=tmp_path,
        )


def test_evaluating_a_run_with_a_damaged_model(clf, tmp_path):
    task = copy(clf.task, tmp_path / "task")
    damaged = truncate(task / "runs" / "r1" / "model.keras")
    with only_changes(tmp_path):
        result = attempt(
            ["evaluate", task / "runs" / "r1", "--data", clf.data], tmp_path
        )
    check_error(result, "evaluate", 4, damaged)
