"""Paths (RELIABILITY.md 33, 38): a run id, an export name or a version is
one path component, refused before anything is written; an operating-system
error (a file where a folder is needed, no permission) is one line naming
the path, exit 3; a missing task, model or data file is one line naming it,
exit 2. Nothing is written outside the task folder or the export root."""

import os

import pytest
from support import (
    TINY,
    classification,
    copy,
    fails,
    only_changes,
    translation,
)

pytestmark = pytest.mark.slow
# What the shared builds of `support` must hold for this module.
SHARED_BUILDS = ("classification", "translation")


@pytest.fixture(scope="module")
def clf(tmp_path_factory, request):
    return classification(tmp_path_factory, request.session)


@pytest.fixture
def task(clf, tmp_path):
    """A copy of the trained task, two folders down, so that `../../x` from
    its runs/ still lands inside tmp_path, where it is seen."""
    return copy(clf.task, tmp_path / "work" / "task")


# Ids and names ----------------------------------------------------------------


@pytest.mark.parametrize(
    "run_id",
    ["..", "", "../../x", ".hidden", "a/b"],
    ids=["dot-dot", "empty", "outside", "hidden", "slash"],
)
def test_a_run_id_is_one_path_component(clf, task, tmp_path, run_id):
    config = (task / "config.toml").read_bytes()
    with only_changes(tmp_path):
        fails(
            ["train", task, "--data", clf.data, "--run-id", run_id, *TINY],
            "train",
            2,
            "--run-id",
            run_id,
            cwd=tmp_path,
        )
    # `..` used to put the run in the task folder, over its config.toml.
    assert (task / "config.toml").read_bytes() == config


@pytest.mark.parametrize(
    "name", ["../../x", "", ".x"], ids=["outside", "empty", "hidden"]
)
def test_an_export_name_is_one_path_component(task, tmp_path, name):
    out = tmp_path / "exports" / "out"
    with only_changes(tmp_path):
        fails(
            ["export", task, "--out", out, "--name", name],
            "export",
            2,
            "--name",
            name,
            cwd=tmp_path,
        )


@pytest.mark.parametrize("version", ["0", "-1"])
def test_an_export_version_is_a_positive_integer(task, tmp_path, version):
    with only_changes(tmp_path):
        fails(
            ["export", task, "--out", tmp_path / "out", "--version", version],
            "export",
            2,
            "--version",
            version,
            cwd=tmp_path,
        )


# Operating-system errors: exit 3, naming the path ---------------------------------


def test_export_into_a_path_under_a_file(task, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder\n")
    with only_changes(tmp_path):
        fails(
            ["export", task, "--out", notes / "sub"],
            "export",
            3,
            notes,
            cwd=tmp_path,
        )
    assert notes.read_text() == "not a folder\n"


def test_export_root_is_a_file(task, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder\n")
    with only_changes(tmp_path):
        fails(["export", task, "--out", notes], "export", 3, notes, cwd=tmp_path)


def test_export_into_a_folder_without_write_permission(task, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("this user (root?) can write to a folder of mode 0o500")
        with only_changes(tmp_path):
            fails(
                ["export", task, "--out", locked / "out"],
                "export",
                3,
                locked,
                cwd=tmp_path,
            )
    finally:
        locked.chmod(0o700)


def test_train_when_runs_is_a_file(clf, task, tmp_path):
    (task / "runs").rename(tmp_path / "old-runs")
    (task / "runs").write_text("a file where the runs folder should be\n")
    with only_changes(tmp_path):
        fails(
            ["train", task, "--data", clf.data, *TINY],
            "train",
            3,
            task / "runs",
            cwd=tmp_path,
        )


def test_train_on_data_under_a_file(task, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder\n")
    with only_changes(tmp_path):
        fails(
            ["train", task, "--data", notes / "data.csv", *TINY],
            "train",
            3,
            notes / "data.csv",
            cwd=tmp_path,
        )


def test_new_onto_an_existing_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    with only_changes(tmp_path):
        fails(["new", "classification", notes], "new", 3, notes, cwd=tmp_path)
    assert notes.read_text() == "my notes\n"


def test_new_under_a_file(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    with only_changes(tmp_path):
        fails(["new", "classification", notes / "task"], "new", 3, notes, cwd=tmp_path)


@pytest.fixture(scope="module")
def translated(tmp_path_factory, request):
    return translation(tmp_path_factory, request.session)


def test_attention_picture_under_a_file(translated, tmp_path):
    model = copy(translated.export, tmp_path / "model")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder\n")
    with only_changes(tmp_path):
        fails(
            ["attention", model, "abc", "--out", notes / "x.png"],
            "attention",
            3,
            notes / "x.png",
            cwd=tmp_path,
        )


# Missing things: exit 2, naming them ----------------------------------------------


def test_a_task_folder_that_does_not_exist(tmp_path):
    missing = tmp_path / "no_such_task"
    with only_changes(tmp_path):
        fails(["train", missing], "train", 2, missing, cwd=tmp_path)


def test_a_saved_model_that_does_not_exist(tmp_path):
    missing = tmp_path / "no_such_model"
    with only_changes(tmp_path):
        fails(["predict", missing, "hello"], "predict", 2, missing, cwd=tmp_path)


def test_new_with_an_unknown_template(tmp_path):
    with only_changes(tmp_path):
        fails(["new", "nonsense", tmp_path / "x"], "new", 2, "nonsense", cwd=tmp_path)
    assert not (tmp_path / "x").exists()


def test_evaluate_on_data_that_does_not_exist(clf, tmp_path):
    model = copy(clf.export, tmp_path / "model")
    with only_changes(tmp_path):
        fails(
            ["evaluate", model, "--data", tmp_path / "missing.csv"],
            "evaluate",
            2,
            tmp_path / "missing.csv",
            cwd=tmp_path,
        )
