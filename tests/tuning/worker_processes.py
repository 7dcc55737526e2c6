"""Helpers for the tests of `rnnkit tune --workers`: the processes a
chief started, found through /proc, and the state of its search on disk."""

import json
import os
import pathlib
import subprocess
import time

import pytest

from rnnkit.tuning import parallel

# TensorFlow quiet, and output unbuffered so a test sees lines as they come.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def records(folder):
    """Each finished trial's rnnkit record, by trial number."""
    found = {}
    for path in (folder / "tuning" / "search").glob("trial_*/rnnkit_trial.json"):
        found[int(path.parent.name.split("_")[1]) + 1] = json.loads(path.read_text())
    return found


def started_by(chief_pid):
    """The live processes that a chief started, workers and their trial
    workers: they carry its pid in their environment."""
    return [pid for pid in running() if has(pid, parallel.CHIEF_PID, chief_pid)]


def running():
    return [
        int(entry.name)
        for entry in pathlib.Path("/proc").iterdir()
        if entry.name.isdigit()
    ]


def has(pid, name, value):
    """Whether process `pid` has `name=value` in its environment."""
    try:
        environ = pathlib.Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False  # gone, or not ours
    return f"{name}={value}".encode() in environ.split(b"\0")


def none_left(chief_pid, seconds=20):
    deadline = time.monotonic() + seconds
    while started_by(chief_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not started_by(chief_pid)


def ongoing(folder):
    """`{tuner id: trial id}` of the trials running now, from the oracle's
    state file (which the chief writes in place: retry a partial read)."""
    path = folder / "tuning" / "search" / "oracle.json"
    try:
        return json.loads(path.read_text())["ongoing_trials"]
    except (OSError, ValueError, KeyError):
        return {}


def wait_for(condition, process, seconds=240):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, "the search ended first"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def worker_pid(chief_pid, tuner_id):
    """The pid of the chief's worker `tuner_id` (not its trial worker)."""
    for pid in started_by(chief_pid):
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == chief_pid and has(pid, "KERASTUNER_TUNER_ID", tuner_id):
            return pid
    return None


def completed(folder):
    """The numbers of the trials that the chief's oracle saw complete (it
    writes their files in place: a partial one is not complete yet)."""
    found = []
    for path in (folder / "tuning" / "search").glob("trial_*/trial.json"):
        try:
            trial = json.loads(path.read_text())
        except ValueError:
            continue
        if trial["status"] == "COMPLETED":
            found.append(int(trial["trial_id"]) + 1)
    return found


def record_path(folder, number):
    return folder / "tuning" / "search" / f"trial_{number - 1}" / "rnnkit_trial.json"


@pytest.fixture(name="start")
def started_processes():
    """Starts a process (output piped, unbuffered) that is killed after the
    test should the test end first, so a failure leaves no search behind."""
    started = []

    def popen(command, **env):
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**ENV, **env},
        )
        started.append(process)
        return process

    yield popen
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
