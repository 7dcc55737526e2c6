"""`rnnkit tune --workers N` under faults made real: the chief killed, a
worker killed in a trial, Ctrl-C; and a chief started by hand whose every
trial fails."""

import os
import signal
import subprocess

import pytest
import tiny_tasks
from test_faults import ENV, free_port, poison, tune_command
from test_search import leaderboard
from worker_processes import (  # noqa: F401  (started_processes: the `start` fixture)
    completed,
    none_left,
    ongoing,
    record_path,
    records,
    started_processes,
    wait_for,
    worker_pid,
)

INTERRUPTED = (
    "rnnkit tune: error: interrupted (Ctrl-C); run the same command again "
    "to resume the search"
)


@pytest.mark.slow
def test_a_killed_chief_leaves_no_workers_and_the_search_resumes(tmp_path, start):
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 4})
    command = tune_command(folder, "--workers", "2")
    chief = start(command)
    wait_for(lambda: completed(folder) and ongoing(folder), chief)
    chief.send_signal(signal.SIGKILL)
    chief.wait()
    assert none_left(chief.pid), "orphan workers"
    # Finished as the chief's oracle saw it: a trial whose worker wrote its
    # record but whose end never reached the chief runs again, rightly.
    before = {n: record_path(folder, n).read_bytes() for n in completed(folder)}

    result = subprocess.run(
        command, capture_output=True, text=True, env=ENV, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert f"resuming after {len(before)} finished trials" in result.stdout
    assert [row["status"] for row in leaderboard(folder)] == ["completed"] * 4
    for number, record in before.items():  # the finished trials did not run again
        assert record_path(folder, number).read_bytes() == record


@pytest.mark.slow
def test_a_worker_killed_in_a_trial_is_replaced_and_the_trial_runs_again(
    tmp_path, start
):
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 4})
    chief = start(tune_command(folder, "--workers", "2"))
    wait_for(lambda: "tuner1" in ongoing(folder), chief)
    trial = int(ongoing(folder)["tuner1"]) + 1
    os.kill(worker_pid(chief.pid, "tuner1"), signal.SIGKILL)
    out, err = chief.communicate(timeout=300)
    assert chief.returncode == 0, err
    assert (
        f"[worker 2] died in trial {trial} (killed by signal 9); a new worker "
        "runs the trial again"
    ) in out
    assert [row["status"] for row in leaderboard(folder)] == ["completed"] * 4
    assert records(folder)[trial]["tuner_id"] == "tuner1"  # the new worker 2's
    assert none_left(chief.pid)


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_in_one_line(tmp_path, start):
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 4})
    chief = start(tune_command(folder, "--workers", "2"))
    wait_for(lambda: len(ongoing(folder)) == 2, chief)
    chief.send_signal(signal.SIGINT)
    out, err = chief.communicate(timeout=60)
    assert chief.returncode == 130
    assert err.strip().splitlines() == [INTERRUPTED]
    assert none_left(chief.pid, seconds=5)


@pytest.mark.slow
def test_a_chief_started_by_hand_stops_when_every_trial_fails(tmp_path, start):
    # Keras Tuner's own chief raises in its gRPC thread, and waits forever.
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 6})
    poison(folder, ["rnn", "gru", "lstm"])
    address = {
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(free_port()),
    }
    chief = start(tune_command(folder), **address, KERASTUNER_TUNER_ID="chief")
    wait_for((folder / "tuning" / "search" / "oracle.json").exists, chief)
    worker = start(tune_command(folder), **address, KERASTUNER_TUNER_ID="tuner0")
    _, worker_err = worker.communicate(timeout=300)
    _, chief_err = chief.communicate(timeout=60)
    assert worker.returncode == 0, worker_err
    assert chief.returncode == 2
    error = chief_err.strip().splitlines()[-1]
    assert error.startswith("rnnkit tune: error: 3 trials in a row failed")
    assert "exploding gradients" in error
    assert [row["status"] for row in leaderboard(folder)] == ["failed"] * 3


# Appended to a task's task.py: the trial process of an rnn model, under
# `--workers`, kills its worker (its parent) as the trial starts.
KILL_THE_WORKER_IN_RNN = """

_build = build_model


def build_model(config, data):
    import multiprocessing, os, signal

    trial = multiprocessing.current_process().name == "rnnkit-trial-worker"
    if trial and "RNNKIT_CHIEF_PID" in os.environ and config["cell"] == "rnn":
        os.kill(os.getppid(), signal.SIGKILL)
    return _build(config, data)
"""


@pytest.mark.slow
def test_a_trial_whose_worker_dies_twice_fails_and_the_search_goes_on(tmp_path, start):
    folder = tiny_tasks.rnn_then_gru(tmp_path)
    with open(folder / "task.py", "a") as file:
        file.write(KILL_THE_WORKER_IN_RNN)
    chief = start(tune_command(folder, "--workers", "2"))
    out, err = chief.communicate(timeout=300)
    assert chief.returncode == 0, err
    died = "died in trial 1 (killed by signal 9)"
    assert f"{died}; a new worker runs the trial again" in out
    assert f"{died}; the trial failed" in out
    board = {row["cell"]: row for row in leaderboard(folder)}
    assert board["rnn"]["status"] == "failed"
    assert board["rnn"]["error"] == (
        "the worker process training this trial died (killed by signal 9), 2 times"
    )
    assert board["gru"]["status"] == "completed" and board["gru"]["rank"] == "1"
    assert none_left(chief.pid)
