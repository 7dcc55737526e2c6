"""What `rnnkit tune` does when things go wrong, each fault made real: a
killed process, changed data, truncated files, NaN losses, no tensorboard,
a dead worker, a trial out of memory."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import tiny_tasks
from test_search import leaderboard

from rnnkit import cli, cli_tuning
from rnnkit.tuning import search as tuning
from rnnkit.tuning import worker
from rnnkit.tuning.state import TuningStateError

QUIET = {"print_fn": lambda line: None}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def poison(folder, cells):
    """Edits the task's own `task.py`, as a user might, so that models of
    `cells` start with NaN output weights: their loss is NaN at once."""
    with open(folder / "task.py", "a") as file:
        file.write(
            f"""

import numpy as np  # noqa: E402

_build_model = build_model


def build_model(config, data):
    model = _build_model(config, data)
    if config["cell"] in {tuple(cells)!r}:
        output = model.layers[-1]
        output.set_weights([w * np.nan for w in output.get_weights()])
    return model
"""
        )


def tune_command(folder, *flags):
    return [sys.executable, "-m", "rnnkit", "tune", str(folder), *flags]


@pytest.mark.slow
def test_a_killed_search_resumes_and_reruns_only_the_interrupted_trial(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path, search={"epochs": 4})
    command = tune_command(folder, "--max-trials", "3")
    second = folder / "tuning" / "search" / "trial_1" / "trial.json"
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV
    )
    deadline = time.monotonic() + 240
    while not second.exists() and process.poll() is None:
        assert time.monotonic() < deadline, "trial 2 never started"
        time.sleep(0.05)
    time.sleep(1.0)  # into trial 2's build or training
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads(second.read_text())["status"] == "RUNNING"
    first_record = folder / "tuning" / "search" / "trial_0" / "rnnkit_trial.json"
    before = first_record.read_bytes()

    result = subprocess.run(command, capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr
    assert "resuming after 1 finished trials" in result.stdout
    numbers = [
        line.split()[1]
        for line in result.stdout.splitlines()
        if line.startswith("trial ")
    ]
    assert numbers == ["2/3", "3/3"]
    assert first_record.read_bytes() == before  # trial 1 did not run again
    board = leaderboard(folder)
    assert sorted(int(row["trial"]) for row in board) == [1, 2, 3]
    assert {row["status"] for row in board} == {"completed"}


@pytest.fixture
def searched(tmp_path):
    """A tiny classification task after a finished one-trial search."""
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 1})
    tuning.tune(folder, **QUIET)
    return folder


@pytest.mark.slow
def test_a_resume_after_the_space_changed_is_refused(searched):
    with pytest.raises(TuningStateError) as error:
        tuning.tune(searched, {"search": {"units": [4, 32]}}, **QUIET)
    message = str(error.value)
    assert "the search space changed (units)" in message
    assert "data" not in message and "--overwrite" in message


@pytest.mark.slow
def test_a_resume_after_the_data_changed_is_refused(searched):
    data = searched / "data" / "tiny.csv"
    data.write_text(data.read_text() + "one more rocket,space\n")
    with pytest.raises(TuningStateError, match=r"the data changed \(data/tiny.csv\)"):
        tuning.tune(searched, **QUIET)
    # --overwrite starts afresh, and more trials extend a search.
    result = tuning.tune(searched, {"search": {"max_trials": 2}}, True, **QUIET)
    assert result.trials == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trial_0/trial.json", "oracle.json"])
def test_a_truncated_state_file_is_named(searched, name):
    path = searched / "tuning" / "search" / name
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(TuningStateError) as error:
        tuning.tune(searched, {"search": {"max_trials": 2}}, **QUIET)
    assert str(error.value).startswith(f"{path}: truncated or corrupt search state")
    assert "--overwrite" in str(error.value)


@pytest.mark.slow
def test_a_trial_killed_between_its_two_state_files_is_not_run_again(searched):
    # Keras Tuner ends a trial by writing its trial.json, then oracle.json.
    # Killed in between, the oracle still lists the trial as running.
    search = searched / "tuning" / "search"
    assert (
        json.loads((search / "trial_0" / "trial.json").read_text())["status"]
        == "COMPLETED"
    )
    state = json.loads((search / "oracle.json").read_text())
    state["ongoing_trials"], state["end_order"] = {"tuner0": "0"}, []
    (search / "oracle.json").write_text(json.dumps(state))
    record = (search / "trial_0" / "rnnkit_trial.json").read_bytes()

    lines = []
    result = tuning.tune(searched, {"search": {"max_trials": 2}}, print_fn=lines.append)
    assert "resuming after 1 finished trials" in lines[0]
    assert result.trials == 2
    assert (search / "trial_0" / "rnnkit_trial.json").read_bytes() == record
    assert [row["status"] for row in leaderboard(searched)] == ["completed"] * 2


@pytest.mark.slow
def test_a_nan_trial_fails_and_is_never_the_best(tmp_path):
    folder = tiny_tasks.rnn_then_gru(tmp_path)
    poison(folder, ["rnn"])
    lines = []
    result = tuning.tune(folder, print_fn=lines.append)
    board = {row["cell"]: row for row in leaderboard(folder)}
    assert board["rnn"]["status"] == "failed"
    assert "exploding gradients" in board["rnn"]["error"]
    assert "learning_rate" in board["rnn"]["error"]
    assert board["gru"]["status"] == "completed" and board["gru"]["rank"] == "1"
    assert "gru" in result.best_run.name
    assert any("failed: the loss became nan" in line for line in lines)


@pytest.mark.slow
def test_repeated_failures_stop_the_search_with_the_last_error(tmp_path, capsys):
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 6})
    poison(folder, ["rnn", "gru", "lstm"])
    assert cli.main(["tune", str(folder)]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("rnnkit tune: error: 3 trials in a row failed")
    assert "exploding gradients" in error  # the last trial's own error
    assert len(leaderboard(folder)) == 3
    assert not (folder / "runs").exists()


def test_missing_tensorboard_is_found_before_the_search(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path)
    hide = (
        "import sys; sys.modules['tensorboard'] = None; "  # import raises ImportError
        "from rnnkit.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide, "tune", str(folder)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert result.returncode == 2
    assert "tensorboard is not installed" in result.stderr
    assert "pip install tensorboard" in result.stderr
    assert not (folder / "tuning").exists()


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--cells", "gru,cnn"], "--cells takes distinct cell types"),
        (["--cells", "gru,gru"], "--cells takes distinct cell types"),
        (["--max-trials", "0"], "--max-trials must be at least 1"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_bad_flags_are_named(tmp_path, capsys, flags, message):
    folder = tiny_tasks.make("classification", tmp_path)
    assert cli.main(["tune", str(folder), *flags]) == 2
    assert message in capsys.readouterr().err


def only_the_rnn_trial_fails(tmp_path, task_code):
    """Tunes an rnn-then-gru task with `task_code` appended to its
    `task.py`; checks that the rnn trial failed and the gru trial completed
    and is the best. Returns the rnn trial's error."""
    folder = tiny_tasks.rnn_then_gru(tmp_path)
    with open(folder / "task.py", "a") as file:
        file.write(task_code)
    result = tuning.tune(folder, **QUIET)
    board = {row["cell"]: row for row in leaderboard(folder)}
    assert board["rnn"]["status"] == "failed"
    assert board["gru"]["status"] == "completed"
    assert "gru" in result.best_run.name
    return board["rnn"]["error"]


@pytest.mark.slow
def test_a_dead_worker_fails_its_trial_and_the_next_gets_a_new_one(tmp_path):
    # As if the system killed it for memory: the worker building an rnn
    # model dies (the search process builds models too, to list the space).
    error = only_the_rnn_trial_fails(
        tmp_path,
        """

_build = build_model


def build_model(config, data):
    import multiprocessing, os

    worker = multiprocessing.current_process().name == "rnnkit-trial-worker"
    if worker and config["cell"] == "rnn":
        os._exit(9)
    return _build(config, data)
""",
    )
    assert "worker process training this trial died (exit code 9)" in error


@pytest.mark.slow
def test_a_trial_out_of_memory_fails_with_the_remedy(tmp_path):
    # The rnn model asks TensorFlow for 1 TiB at every step: a real
    # allocation failure inside fit, not an error raised by hand.
    error = only_the_rnn_trial_fails(
        tmp_path,
        """

_build = build_model


def too_big(x):
    # Its size is drawn at run time, so TensorFlow cannot fold it away.
    size = tf.random.uniform([1], 2**38, 2**38 + 1, dtype="int64")
    return x + tf.reduce_max(tf.zeros(size))


def build_model(config, data):
    model = _build(config, data)
    if config["cell"] != "rnn":
        return model
    model = keras.Model(model.inputs, keras.layers.Lambda(too_big)(model.outputs[0]))
    loss = "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer(config), loss=loss, metrics=["accuracy"])
    return model
""",
    )
    assert "out of memory training a model of" in error
    assert "lower the [search] ranges of units" in error


@pytest.mark.slow
def test_a_search_survives_a_new_worker_for_every_trial(tmp_path, monkeypatch):
    monkeypatch.setattr(worker, "RECYCLE_GROWTH_MIB", -1.0)
    folder = tiny_tasks.make("classification", tmp_path)
    result = tuning.tune(folder, **QUIET)
    assert result.trials == 3
    assert [row["status"] for row in leaderboard(folder)] == ["completed"] * 3


def test_tune_flags_become_config_overrides(tmp_path):
    args = cli.build_parser().parse_args(
        ["tune", "t", "--tuner", "grid", "--max-trials", "4", "--epochs", "2"]
        + ["--executions-per-trial", "2", "--cells", "gru, lstm", "--seed", "7"]
        + ["--data", str(tmp_path / "d.csv"), "--set", "units=32"]
    )
    assert cli_tuning._overrides(args) == {
        "units": 32,
        "search": {
            "tuner": "grid",
            "max_trials": 4,
            "epochs": 2,
            "executions_per_trial": 2,
            "cells": ["gru", "lstm"],
        },
        "seed": 7,
        "data": str(tmp_path / "d.csv"),
    }


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_keras_tuners_distributed_mode_chief_and_worker(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 2})
    address = {
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(free_port()),
    }

    def start(tuner_id):
        env = {**ENV, **address, "KERASTUNER_TUNER_ID": tuner_id}
        return subprocess.Popen(
            tune_command(folder),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )

    chief = start("chief")
    oracle = folder / "tuning" / "search" / "oracle.json"
    deadline = time.monotonic() + 120
    while not oracle.exists():  # the chief saves its oracle, then serves it
        assert chief.poll() is None and time.monotonic() < deadline, chief.stderr.read()
        time.sleep(0.1)
    worker = start("tuner0")
    worker_out, worker_err = worker.communicate(timeout=300)
    chief_out, chief_err = chief.communicate(timeout=300)
    assert worker.returncode == 0, worker_err
    assert chief.returncode == 0, chief_err
    assert [
        line.split()[1] for line in worker_out.splitlines() if line.startswith("trial ")
    ] == ["1/2", "2/2"]
    assert "2 trials trained here; the chief writes the results" in worker_out
    assert "best run: " in chief_out
    assert [row["status"] for row in leaderboard(folder)] == ["completed"] * 2
