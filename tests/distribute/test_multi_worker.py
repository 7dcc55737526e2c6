"""`--strategy multi-worker` with two worker processes on loopback: the
chief writes the run, which exports and predicts; a worker that dies makes
the other stop with one line; the same command on both resumes the run; a
stateful model, and data streamed from disk, train as in one process."""

import csv

import numpy as np
import pytest
from distribute_support import (
    RNNKIT,
    cluster,
    epochs_logged,
    one_error,
    run,
    tiny_task,
)


@pytest.mark.slow
def test_two_workers_train_and_the_chiefs_run_exports_and_predicts(tmp_path):
    task = tiny_task("classification", tmp_path)
    args = [str(task), "--run-id", "together", "--epochs", "2"]
    with cluster(args, tmp_path) as workers:
        chief, other = workers.results()
    assert chief.returncode == 0, chief.stderr
    assert other.returncode == 0, other.stderr
    run_folder = task / "runs" / "together"
    assert chief.stdout.splitlines()[-2] == str(run_folder)
    assert other.stdout.splitlines()[-1] == (
        f"worker 1 of 2 done; the chief (worker 0) writes the run {run_folder}"
    )
    assert epochs_logged(run_folder) == [0, 1]
    # The other worker's scratch run is gone; the chief's is the only run.
    assert not list(task.glob("runs-worker-*"))
    assert [p.name for p in (task / "runs").iterdir()] == ["together"]

    out = tmp_path / "exports"
    exported = run([*RNNKIT, "export", str(task), "--out", str(out)], cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    version = exported.stdout.strip()
    predicted = run(
        [*RNNKIT, "predict", version, "rocket orbit moon", "oven flour"],
        cwd=tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr
    labels = predicted.stdout.split()
    assert len(labels) == 2 and set(labels) <= {"cooking", "space", "sports"}


DIE_AFTER_THE_SECOND_BACKUP = """

import json as _json  # noqa: E402
import os as _os  # noqa: E402
import pathlib as _pathlib  # noqa: E402
import signal as _signal  # noqa: E402
import time as _time  # noqa: E402

import keras as _keras  # noqa: E402


class _Die(_keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        worker = _json.loads(_os.environ["TF_CONFIG"])["task"]["index"]
        chiefs_backup = _os.environ.get("DIE_ONCE_THERE_IS")
        if epoch == 1 and worker == 1 and chiefs_backup:
            while not _pathlib.Path(chiefs_backup).exists():
                _time.sleep(0.1)
            _os.kill(_os.getpid(), _signal.SIGKILL)


def training_callbacks(config):
    return [_Die()]
"""


@pytest.mark.slow
def test_a_dead_worker_stops_the_other_and_both_resume(tmp_path):
    """Worker 1 dies once both workers have backed up the second epoch.
    Had it died a moment sooner, while saving (the workers read the
    weights together, then each writes its own file), the chief alone
    would have that backup: this is made so here by deleting worker 1's.
    The resumed workers agree to start from the first epoch's backup (with
    Keras's BackupAndRestore they resumed an epoch apart, and failed)."""
    task = tiny_task("classification", tmp_path)
    with open(task / "task.py", "a") as file:
        file.write(DIE_AFTER_THE_SECOND_BACKUP)
    # No early stopping: every one of the epochs runs.
    args = [str(task), "--run-id", "resumed", "--epochs", "4", "--set", "patience=99"]
    run_folder = task / "runs" / "resumed"
    die = {"DIE_ONCE_THERE_IS": str(run_folder / "backup" / "epoch-2.weights.h5")}
    with cluster(args, tmp_path, env=die) as workers:
        chief, other = workers.results(timeout=240)
    assert other.returncode == -9
    line = one_error(chief, 5, "--strategy multi-worker", "worker 0 of 2")
    assert line.endswith(
        "restart every worker with the same command to resume from the last epoch"
    )
    assert epochs_logged(run_folder) == [0, 1]
    assert not (run_folder / "model.keras").exists()
    # Each kept its last two backups; the other's outside the chief's run.
    backups = ["epoch-1.weights.h5", "epoch-2.weights.h5"]
    assert sorted(p.name for p in (run_folder / "backup").iterdir()) == backups
    other_backup = task / "runs-worker-1" / "resumed" / "backup"
    assert sorted(p.name for p in other_backup.iterdir()) == backups
    (other_backup / "epoch-2.weights.h5").unlink()

    with cluster(args, tmp_path) as workers:
        chief, other = workers.results()
    assert chief.returncode == 0, chief.stderr
    assert other.returncode == 0, other.stderr
    # Both resumed after the first epoch; each epoch is logged once.
    assert "Epoch 2/4" in chief.stdout.splitlines()[0]
    assert epochs_logged(run_folder) == list(range(4))
    assert (run_folder / "model.keras").is_file()
    assert not (run_folder / "backup").exists()


HANG_IN_THE_SECOND_EPOCH = """

import json as _json  # noqa: E402
import os as _os  # noqa: E402
import time as _time  # noqa: E402

import keras as _keras  # noqa: E402


class _Hang(_keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        worker = _json.loads(_os.environ["TF_CONFIG"])["task"]["index"]
        if epoch == 1 and worker == 1:
            _time.sleep(3600)  # alive, its heartbeats going on


def training_callbacks(config):
    return [_Hang()]
"""


@pytest.mark.slow
def test_a_worker_that_hangs_while_alive_stops_the_other_at_the_timeout(tmp_path):
    """Its heartbeats go on, so only the collectives' timeout
    (RNNKIT_COLLECTIVE_TIMEOUT_S, 600 s unless set) ends the wait."""
    task = tiny_task("classification", tmp_path)
    with open(task / "task.py", "a") as file:
        file.write(HANG_IN_THE_SECOND_EPOCH)
    args = [str(task), "--run-id", "hung", "--epochs", "3", "--set", "patience=99"]
    timeout = {"RNNKIT_COLLECTIVE_TIMEOUT_S": "15"}
    with cluster(args, tmp_path, env=timeout) as workers:
        chief = workers.result(0, timeout=240)
        assert workers.processes[1].poll() is None  # still hanging
    line = one_error(chief, 5, "worker 0 of 2 lost contact", "DeadlineExceededError")
    assert line.endswith(
        "restart every worker with the same command to resume from the last epoch"
    )
    assert epochs_logged(task / "runs" / "hung") == [0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, settings",
    [
        ("generation", {"cell": "lstm", "stateful": True, "batch_size": 4}),
        ("classification", {"streaming": True, "embedding_dropout": 0.0}),
        ("generation", {"streaming": True}),
    ],
    ids=["stateful", "streamed-classification", "streamed-generation"],
)
def test_two_workers_train_as_one_process(tmp_path, kind, settings):
    """The losses of every epoch are those of one process training the
    whole batch. A stateful model: each worker carries the state rows of
    its half of every batch. Data streamed from disk: each worker reads all
    of it and keeps its share. The classifier's last batch of an epoch (1
    of 49 texts) splits unevenly, and each worker's loss weighs by its rows.
    Dropout is off, as its draws differ per worker."""
    task = tiny_task(kind, tmp_path, dropout=0.0, **settings)
    flags = ["--epochs", "2", "--set", "patience=99"]
    with cluster([str(task), "--run-id", "two", *flags], tmp_path) as workers:
        chief, other = workers.results()
    assert chief.returncode == 0, chief.stderr
    assert other.returncode == 0, other.stderr
    alone = run([*RNNKIT, "train", str(task), "--run-id", "one", *flags], cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    two, one = (history(task / "runs" / name) for name in ("two", "one"))
    assert len(two) == 2 and two[0]["loss"] > two[1]["loss"]  # it learned
    for together, alone in zip(two, one, strict=True):
        assert together.keys() == alone.keys()
        np.testing.assert_allclose(
            list(together.values()), list(alone.values()), rtol=1e-5
        )


def history(run_folder):
    """Each epoch's logs (losses and metrics), from history.csv."""
    with open(run_folder / "history.csv", newline="") as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]
