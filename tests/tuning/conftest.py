"""The `start` fixture of the `rnnkit tune --workers` tests."""

import subprocess

import pytest
from worker_processes import ENV


@pytest.fixture
def start():
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
