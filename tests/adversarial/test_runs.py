"""Resuming a run (RELIABILITY.md 36): settings given now that differ from
the run's own are refused, naming each differing key, and the run is left
untouched; with no settings, the run resumes with its own. A complete run
is never trained again."""

import json
import zipfile

import pytest
from support import (
    TINY,
    attempt,
    classification,
    copy,
    examples,
    fails,
    only_changes,
    write_csv,
)

pytestmark = pytest.mark.slow
# What the shared builds of `support` must hold for this module.
SHARED_BUILDS = ("classification",)


@pytest.fixture(scope="module")
def clf(tmp_path_factory, request):
    return classification(tmp_path_factory, request.session)


@pytest.fixture
def task(clf, tmp_path):
    """A copy of the trained task whose run r1 is unfinished, as when its
    training stopped in the first epoch: only its config.toml and logs/."""
    task = copy(clf.task, tmp_path / "task")
    for path in (task / "runs" / "r1").iterdir():
        if path.name not in ("config.toml", "logs"):
            path.unlink()
    return task


def units_of(model):
    """The `units` of every recurrent layer in a .keras file's config."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            config = value.get("config")
            if value.get("class_name") != "Dense" and isinstance(config, dict):
                found.extend([config["units"]] if "units" in config else [])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    with zipfile.ZipFile(model) as archive:
        walk(json.loads(archive.read("config.json")))
    return found


def same_as_the_run(clf, units=8):
    """The flags r1 was trained with (see `support.classification`), with
    `units` in place of 8."""
    flags = ["--data", clf.data, *TINY]
    flags[flags.index("units=8")] = f"units={units}"
    return flags


def test_resume_with_other_units_is_refused(clf, task, tmp_path):
    config = (task / "runs" / "r1" / "config.toml").read_bytes()
    with only_changes(tmp_path):
        fails(
            ["train", task, "--run-id", "r1", *same_as_the_run(clf, units=16)],
            "train",
            2,
            "units",
            cwd=tmp_path,
        )
    assert (task / "runs" / "r1" / "config.toml").read_bytes() == config


def test_resume_with_other_data_is_refused(clf, task, tmp_path):
    other = write_csv(tmp_path / "other.csv", examples(seed=1))
    flags = same_as_the_run(clf)
    flags[1] = other
    with only_changes(tmp_path):
        fails(
            ["train", task, "--run-id", "r1", *flags],
            "train",
            2,
            "data",
            cwd=tmp_path,
        )


def test_resume_with_two_other_settings_names_both(clf, task, tmp_path):
    args = ["train", task, "--run-id", "r1", *same_as_the_run(clf)]
    args += ["--set", "embedding_dim=4", "--set", "dropout=0.1"]
    with only_changes(tmp_path):
        fails(args, "train", 2, "embedding_dim", "dropout", cwd=tmp_path)


def test_resume_without_settings_uses_the_runs_own(clf, task, tmp_path):
    # The task's config.toml says units 64, 10 epochs, the bundled data; the
    # run says units 8, 1 epoch, clf.data. The run's own win.
    run = task / "runs" / "r1"
    config = (run / "config.toml").read_bytes()
    with only_changes(tmp_path, allowed=[run]):
        result = attempt(["train", task, "--run-id", "r1"], tmp_path, timeout=150)
    assert result.status == 0, result.describe()
    assert (run / "config.toml").read_bytes() == config
    metrics = json.loads((run / "metrics.json").read_text())
    reference = json.loads((task / "runs" / "r2" / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 1  # the task's: 10, patience 3
    assert metrics["train_examples"] == reference["train_examples"]
    assert set(units_of(run / "model.keras")) == {8}


def test_a_complete_run_is_not_trained_again(clf, task, tmp_path):
    with only_changes(tmp_path):
        fails(
            ["train", task, "--run-id", "r2", *same_as_the_run(clf)],
            "train",
            2,
            "r2",
            cwd=tmp_path,
        )
