"""Helpers of the `--strategy` tests: tiny tasks, `rnnkit` in subprocesses
(on a CPU split into logical devices, or as the workers of a loopback
cluster), and the one-line errors they end with."""

import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
# tests/tuning/tiny_tasks.py makes the tiny copies of each template.
sys.path.insert(0, str(HERE.parent / "tuning"))
import tiny_tasks  # noqa: E402

RNNKIT = [sys.executable, "-m", "rnnkit"]
SPLIT_CPU = [sys.executable, str(HERE / "split_cpu.py")]
MIRROR_EQUALITY = [sys.executable, str(HERE / "mirror_equality.py")]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
# TensorFlow's start-up log, which comes before its log level applies.
TF_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} )")


def tiny_task(kind, root, **config):
    """A tiny task folder of `kind`: its training takes a second an epoch."""
    return tiny_tasks.make(kind, root, **config)


def run(command, cwd, env=None, timeout=300):
    """Runs `command` with `env` changed (None: unset); returns the
    `CompletedProcess` (text)."""
    env = {**ENV, **(env or {})}
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={key: value for key, value in env.items() if value is not None},
    )


def error_lines(stderr):
    """stderr without TensorFlow's start-up log and blank lines."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not TF_LOG_LINE.match(line)
    ]


def one_error(result, status, *words):
    """The one line `rnnkit train: error: ...` of a failed train, which
    exited with `status` without a traceback and holds each of `words`."""
    report = f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.returncode == status, report
    assert "Traceback" not in result.stderr, report
    lines = error_lines(result.stderr)
    assert len(lines) == 1, report
    assert lines[0].startswith("rnnkit train: error: "), report
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]}"
    return lines[0]


def free_ports(count):
    """`count` loopback ports free now (each bound, then released)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("localhost", 0))
        return [sock.getsockname()[1] for sock in sockets]


def tf_config(ports, index):
    """TF_CONFIG for worker `index` of a cluster on loopback `ports`."""
    workers = [f"localhost:{port}" for port in ports]
    return json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    )


class Cluster:
    """The workers of one `rnnkit train --strategy multi-worker` command,
    each a process of its own on loopback ports."""

    def __init__(self, args, cwd, workers=2, env=None):
        self.args, self.cwd, self.count = list(args), cwd, workers
        self.env = {**ENV, **(env or {})}
        self.ports = free_ports(workers)
        self.processes = []

    def start(self):
        self.processes = [
            subprocess.Popen(
                [*RNNKIT, "train", *self.args, "--strategy", "multi-worker"],
                cwd=self.cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**self.env, "TF_CONFIG": tf_config(self.ports, index)},
                start_new_session=True,
            )
            for index in range(self.count)
        ]
        return self

    def results(self, timeout=300):
        """Each worker's `CompletedProcess`, once all have ended."""
        deadline = time.monotonic() + timeout
        return [
            self.result(index, max(1, deadline - time.monotonic()))
            for index in range(self.count)
        ]

    def result(self, index, timeout=300):
        """Worker `index`'s `CompletedProcess`, once it has ended."""
        process = self.processes[index]
        out, err = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def kill(self, index):
        self.processes[index].send_signal(signal.SIGKILL)

    def stop(self):
        """Kills whatever is still running (a failed test leaves nothing)."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


@contextlib.contextmanager
def cluster(args, cwd, workers=2, env=None):
    """A started `Cluster` (`env`: changes to the workers' environment),
    stopped on the way out."""
    workers = Cluster(args, cwd, workers, env).start()
    try:
        yield workers
    finally:
        workers.stop()


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.2)


def epochs_logged(run):
    """The epochs in a run's history.csv, in order ([] before the first)."""
    path = pathlib.Path(run) / "history.csv"
    if not path.is_file():
        return []
    rows = path.read_text().splitlines()[1:]
    return [int(row.split(",")[0]) for row in rows if row]
