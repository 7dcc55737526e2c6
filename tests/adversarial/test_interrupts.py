"""Ctrl-C (RELIABILITY.md 10, 19, 38): SIGINT to the process group, as a
terminal sends it, ends a command with one line saying it was interrupted,
exit 130, no traceback. An interrupted training leaves its run resumable
(no metrics.json, its config.toml whole); an interrupted export leaves no
version folder and no staging folder behind."""

import subprocess
import time
import tomllib

import pytest
from support import (
    check_error,
    classification,
    copy,
    examples,
    interrupt,
    only_changes,
    start,
    wait_for,
    write_csv,
)

pytestmark = pytest.mark.slow
# What the shared builds of `support` must hold for this module.
SHARED_BUILDS = ("classification",)


@pytest.fixture(scope="module")
def clf(tmp_path_factory, request):
    return classification(tmp_path_factory, request.session)


def test_ctrl_c_during_training(clf, tmp_path):
    task = copy(clf.task, tmp_path / "task")
    # Enough steps for a minute or more; it is interrupted after seconds.
    data = write_csv(tmp_path / "more.csv", examples(per_label=300))
    run = task / "runs" / "long"
    args = ["train", task, "--data", data, "--run-id", "long", "--epochs", "50"]
    args += ["--set", "units=8", "--set", "embedding_dim=8", "--set", "batch_size=8"]
    args += ["--set", "sequence_length=12", "--set", "patience=50"]
    with only_changes(tmp_path, allowed=[run]):
        process = start(args, tmp_path)
        # training has begun once the run has its TensorBoard logs
        wait_for(lambda: (run / "logs").is_dir(), 120, process)
        time.sleep(2)
        result = interrupt(process)
    check_error(result, "train", 130, "interrupted")
    assert not (run / "metrics.json").exists()
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["units"] == 8 and config["data"] == str(data.resolve())


def test_ctrl_c_during_an_export(clf, tmp_path):
    task = copy(clf.task, tmp_path / "task")
    out = tmp_path / "out"
    with only_changes(tmp_path, allowed=[out]):
        process = start(["export", task, "--run", "r1", "--out", out], tmp_path)
        # the export is staged in a hidden folder under <out>/<name>/
        wait_for(
            lambda: (out / "task").is_dir() and any((out / "task").iterdir()),
            120,
            process,
        )
        time.sleep(1)
        result = interrupt(process)
    check_error(result, "export", 130, "interrupted")
    left = sorted(p.name for p in (out / "task").iterdir())
    assert left == [], f"left behind in {out / 'task'}: {left}"


def test_ctrl_c_while_predict_waits_for_stdin(clf, tmp_path):
    model = copy(clf.export, tmp_path / "model")
    with only_changes(tmp_path):
        process = start(["predict", model], tmp_path, stdin=subprocess.PIPE)
        time.sleep(6)  # TensorFlow is loaded; it reads stdin, which stays open
        result = interrupt(process)
    check_error(result, "predict", 130, "interrupted")
