"""`rnnkit tune --workers N`: a chief and N worker processes on loopback
gRPC running real searches: flags, thread shares, output, the leaderboard
and best run, NaN trials and every trial failing. (Killed processes and
Ctrl-C: test_worker_faults.py.)"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import tiny_tasks
from test_faults import ENV, poison, tune_command
from test_search import leaderboard
from worker_processes import records

from rnnkit import cli, cli_tuning
from rnnkit.tuning import parallel, search


@pytest.mark.parametrize(
    "flags,environ,message",
    [
        (["--workers", "0"], {}, "--workers must be at least 1. Received: --workers 0"),
        (
            ["--workers", "2"],
            {"KERASTUNER_TUNER_ID": "chief"},
            "--workers starts its own Keras Tuner chief and workers, but "
            "KERASTUNER_TUNER_ID is set",
        ),
    ],
)
def test_bad_workers_flags_are_one_line(
    tmp_path, monkeypatch, capsys, flags, environ, message
):
    folder = tiny_tasks.make("classification", tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["tune", str(folder), *flags]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]
    assert not (folder / "tuning").exists()


def test_each_worker_gets_an_equal_share_of_the_cores():
    assert parallel.thread_shares(1, cores=2) == (2, 1)
    assert parallel.thread_shares(2, cores=2) == (1, 1)
    assert parallel.thread_shares(3, cores=2) == (1, 1)  # never none
    assert parallel.thread_shares(4, cores=16) == (4, 1)


def test_workers_are_given_the_chiefs_settings(tmp_path):
    overrides = {
        "units": 32,
        "learning_rate": 1e-05,
        "bidirectional": False,
        "data": str(tmp_path / 'a "quoted" name.csv'),
        "search": {"max_trials": 4, "cells": ["gru", "lstm"], "tuner": "grid"},
        "seed": 7,
    }
    command = parallel.worker_command("my task", overrides)
    assert command[:5] == [sys.executable, "-m", "rnnkit", "tune", "my task"]
    args = cli.build_parser().parse_args(command[3:])
    assert cli_tuning._overrides(args) == overrides


def test_a_worker_relays_its_progress_lines_and_keeps_its_error(tmp_path):
    script = (
        "import sys; print('Reloading Tuner from x'); print('trial 1/2  cell=gru');"
        "print('rnnkit tune: error: data.csv: no such file', file=sys.stderr);"
        "sys.exit(2)"
    )
    said = []
    worker = parallel.Worker(
        2,
        [sys.executable, "-c", script],
        dict(os.environ),
        tmp_path / "w.log",
        said.append,
    )
    assert worker.process.wait(60) == 2 and worker.ended() == 2
    assert worker.tuner_id == "tuner1"
    assert said == ["[worker 2] trial 1/2  cell=gru"]
    assert worker.error(2) == "data.csv: no such file"
    log = (tmp_path / "w.log").read_text()
    assert "Reloading Tuner from x" in log and "no such file" in log


def tune_with_two_workers(folder):
    return subprocess.run(
        tune_command(folder, "--workers", "2"),
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )


@pytest.mark.slow
def test_two_workers_run_a_search_of_four_trials_at_once(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 4})
    result = tune_with_two_workers(folder)
    assert result.returncode == 0, result.stderr
    # TensorFlow's logs and the rest go to the workers' logs.
    assert result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    trials = [line for line in lines if line.startswith("[worker ")]
    # The header, the workers, 4 trials and the result: nothing else.
    assert len(lines) == 2 + 4 + 4, result.stdout
    assert sorted(t.split()[3] for t in trials) == ["1/4", "2/4", "3/4", "4/4"]
    assert {t.split("]")[0] for t in trials} == {"[worker 1", "[worker 2"}
    assert [row["status"] for row in leaderboard(folder)] == ["completed"] * 4

    done = records(folder)
    assert {r["tuner_id"] for r in done.values()} == {"tuner0", "tuner1"}, done
    intra = max(1, parallel.core_count() // 2)
    assert all(
        r["threads"] == {"intra_op": intra, "inter_op": 1} for r in done.values()
    )
    # The workers trained at the same time: some trials of each overlap.
    assert any(
        a["tuner_id"] != b["tuner_id"]
        and a["began"] < b["ended"]
        and b["began"] < a["ended"]
        for a in done.values()
        for b in done.values()
    )
    best = lines[-1].removeprefix("best run: ")
    assert (pathlib.Path(best) / "model.keras").is_file()
    export = ["export", str(folder), "--out", str(tmp_path / "out")]
    exported = subprocess.run(
        [sys.executable, "-m", "rnnkit", *export],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert exported.returncode == 0, exported.stderr
    assert (pathlib.Path(exported.stdout.strip()) / "saved_model.pb").is_file()


@pytest.mark.slow
def test_two_workers_run_a_hyperband_search(tmp_path):
    """3 epochs, factor 3: a bracket of 3 one-epoch trials, the best of
    which a later trial carries on to epoch 3 from its checkpoint, and a
    bracket of 2 three-epoch trials."""
    search = {"tuner": "hyperband", "epochs": 3}
    folder = tiny_tasks.make("classification", tmp_path, search=search)
    result = tune_with_two_workers(folder)
    assert result.returncode == 0, result.stderr
    assert "6 trials of up to 3 epochs" in result.stdout.splitlines()[0]
    assert [row["status"] for row in leaderboard(folder)] == ["completed"] * 6
    done = records(folder)
    assert {r["tuner_id"] for r in done.values()} == {"tuner0", "tuner1"}, done
    state = folder / "tuning" / "search"
    values = {
        n: json.loads((state / f"trial_{n - 1:04d}" / "trial.json").read_text())[
            "hyperparameters"
        ]["values"]
        for n in done
    }
    carried = [n for n, v in values.items() if "tuner/trial_id" in v]
    assert len(carried) == 1, values
    later, earlier = carried[0], int(values[carried[0]]["tuner/trial_id"]) + 1
    assert values[earlier]["tuner/epochs"] == 1
    assert done[earlier]["ended"] <= done[later]["began"]
    # Epochs 2 and 3 only, from the earlier trial's weights.
    assert len(done[later]["histories"][0]["loss"]) == 2
    best = result.stdout.splitlines()[-1].removeprefix("best run: ")
    assert (pathlib.Path(best) / "model.keras").is_file()


@pytest.mark.slow
def test_one_worker_trains_with_all_the_cores(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 1})
    search.tune(folder, print_fn=lambda line: None)
    assert records(folder)[1]["threads"] == {"intra_op": 0, "inter_op": 0}
    assert records(folder)[1]["tuner_id"] == "tuner0"


@pytest.mark.slow
def test_nan_trials_of_workers_fail_and_are_never_the_best(tmp_path):
    folder = tiny_tasks.rnn_then_gru(tmp_path)
    poison(folder, ["rnn"])
    result = tune_with_two_workers(folder)
    assert result.returncode == 0, result.stderr
    board = {row["cell"]: row for row in leaderboard(folder)}
    assert board["rnn"]["status"] == "failed"
    assert "exploding gradients" in board["rnn"]["error"]
    assert board["gru"]["status"] == "completed" and board["gru"]["rank"] == "1"
    assert "gru" in pathlib.Path(result.stdout.splitlines()[-1]).name
    assert "failed: the loss became nan" in result.stdout


@pytest.mark.slow
def test_every_trial_failing_stops_the_workers_with_the_last_error(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path, search={"max_trials": 8})
    poison(folder, ["rnn", "gru", "lstm"])
    result = tune_with_two_workers(folder)
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()
    assert len(error) == 1, result.stderr
    assert error[0].startswith("rnnkit tune: error: 3 trials in a row failed")
    assert "exploding gradients" in error[0]  # the last trial's own error
    board = leaderboard(folder)
    # The limit stops new trials; the one running beside it may finish.
    assert len(board) in (3, 4) and {row["status"] for row in board} == {"failed"}
    assert not (folder / "runs").exists()
