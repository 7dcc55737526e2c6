"""Errors and faults around a trained task: existing and half-written
exports, unknown labels, corrupt `.keras` files, missing runs
(RELIABILITY.md 13, 14, 19, 26)."""

import json
import shutil
import zipfile

import pytest
from cli_support import (
    LABELS,
    TINY,
    examples,
    exported_model,
    new_task,
    one_error_line,
    run,
    trained_task,
    write_csv,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_task(tmp_path_factory)


@pytest.fixture(scope="module")
def exported(trained):
    return exported_model(trained)


def evaluate_json(target, data):
    result = run(["evaluate", str(target), "--data", str(data), "--json"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_export_to_existing_version_needs_force(trained, tmp_path):
    args = ["export", str(trained.task), "--out", str(tmp_path), "--version", "1"]
    first = run(args)
    assert first.returncode == 0, first.stderr
    pb = tmp_path / "task" / "1" / "saved_model.pb"
    before = (pb.read_bytes(), pb.stat().st_mtime_ns)
    line = one_error_line(run(args), "export")
    assert "already exists" in line and "--force" in line
    assert (pb.read_bytes(), pb.stat().st_mtime_ns) == before
    forced = run([*args, "--force"])
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.strip() == str(tmp_path / "task" / "1")


def test_export_run_to_existing_version_needs_force(trained, exported, tmp_path):
    """The library behind `rnnkit export --version 1 [--force]`."""
    from rnnkit.templates import workflow
    from rnnkit.templates.errors import RnnkitError

    root = tmp_path / "clf"
    shutil.copytree(exported.parent, root)
    pb = root / "1" / "saved_model.pb"
    before = (pb.read_bytes(), pb.stat().st_mtime_ns)
    args = (trained.task, trained.run.name, tmp_path, "clf", 1)
    with pytest.raises(RnnkitError, match="version 1 already exists"):
        workflow.export_run(*args)
    assert (pb.read_bytes(), pb.stat().st_mtime_ns) == before
    assert workflow.export_run(*args, force=True) == root / "1"
    assert pb.stat().st_mtime_ns != before[1]
    assert sorted(p.name for p in root.iterdir()) == ["1"]


@pytest.mark.parametrize("fault", [RuntimeError, KeyboardInterrupt])
def test_failed_export_leaves_no_folder(trained, tmp_path, monkeypatch, fault):
    from rnnkit.templates import export, workflow

    def verify(*args):
        raise fault("the check failed")

    monkeypatch.setattr(export, "verify", verify)
    with pytest.raises(fault, match="the check failed"):
        workflow.export_run(trained.task, trained.run.name, tmp_path, "clf")
    root = tmp_path / "clf"
    left = [p.name for p in root.iterdir()] if root.exists() else []
    assert "1" not in left
    assert [name for name in left if name.startswith(".")] == []


@pytest.mark.parametrize("target", ["run", "saved-model"])
def test_evaluate_unknown_label_lists_known_labels(trained, exported, tmp_path, target):
    data = write_csv(tmp_path / "new.csv", [*examples(2), ("kick off", "football")])
    path = trained.run if target == "run" else exported
    line = one_error_line(run(["evaluate", str(path), "--data", str(data)]), "evaluate")
    assert str(data) in line and "'football'" in line
    assert f"Known labels: {LABELS}" in line


def _garbage(model):
    model.write_bytes(b"this is not a zip archive\x00\xff" * 10)


def _truncated(model):
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])


def _foreign_zip(model):
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("notes.txt", "not a model")


@pytest.mark.parametrize("damage", [_garbage, _truncated, _foreign_zip])
def test_evaluate_corrupt_model_keras(trained, tmp_path, damage):
    task = shutil.copytree(trained.task, tmp_path / "task")
    run_dir = task / "runs" / trained.run.name
    damage(run_dir / "model.keras")
    result = run(["evaluate", str(run_dir), "--data", str(trained.data)])
    line = one_error_line(result, "evaluate", status=4)  # a damaged file
    assert f"{run_dir / 'model.keras'}: corrupt or not a .keras archive" in line


def test_evaluate_run_folder_given_relative_to_runs(trained):
    result = run(
        ["evaluate", trained.run.name, "--data", str(trained.data), "--json"],
        cwd=trained.run.parent,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == evaluate_json(trained.run, trained.data)


def test_export_without_runs_says_train_first(tmp_path):
    task = new_task(tmp_path / "fresh")
    line = one_error_line(run(["export", str(task), "--out", str(tmp_path)]), "export")
    assert "no completed runs" in line and "rnnkit train" in line


def test_export_unknown_run_lists_completed_runs(trained, tmp_path):
    result = run(["export", str(trained.task), "--run", "nope", "--out", str(tmp_path)])
    line = one_error_line(result, "export")
    assert "'nope'" in line and f"Completed: ['{trained.run.name}']" in line


def test_export_run_errors_name_the_remedy(trained, tmp_path):
    """The library behind the two tests above."""
    from rnnkit.templates import workflow
    from rnnkit.templates.errors import RnnkitError

    fresh = new_task(tmp_path / "fresh")
    with pytest.raises(RnnkitError, match="no completed runs.*rnnkit train"):
        workflow.export_run(fresh, out=tmp_path)
    with pytest.raises(RnnkitError) as error:
        workflow.export_run(trained.task, "nope", out=tmp_path)
    assert f"Completed: ['{trained.run.name}']" in str(error.value)
    assert not (tmp_path / "fresh" / "runs").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["fresh"]


@pytest.mark.parametrize("command", [["predict", "--json"], ["info"]])
def test_loading_commands_refuse_a_folder_that_is_not_an_export(trained, command):
    result = run([command[0], str(trained.run), *command[1:]], input="a text\n")
    line = one_error_line(result, command[0])
    assert f"{trained.run}: not a SavedModel (no saved_model.pb)" in line
    assert result.stdout == ""


def test_train_refuses_to_reuse_a_completed_run_id(trained):
    model = trained.run / "model.keras"
    before = (model.read_bytes(), model.stat().st_mtime_ns)
    args = ["train", str(trained.task), "--data", str(trained.data), *TINY]
    result = run([*args, "--run-id", trained.run.name])
    line = one_error_line(result, "train")
    assert f"{trained.run}: run '{trained.run.name}' is already complete" in line
    assert (model.read_bytes(), model.stat().st_mtime_ns) == before
    assert [p.name for p in (trained.task / "runs").iterdir()] == [trained.run.name]
