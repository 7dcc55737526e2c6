"""Helpers for the serving tests: small real exports of each template, and
`rnnkit serve` as a real process on a free port."""

import contextlib
import os
import pathlib
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading

import keras
import requests

# tests/shared_builds.py builds what several test modules share once.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import shared_builds  # noqa: E402

from rnnkit.templates import export, tasks  # noqa: E402

SMALL = {"units": 8, "embedding_dim": 4, "epochs": 1}
READY = re.compile(
    r"^serving (\S+) version (\d+) at (http://\S+) \(signatures: (.*)\);"
)


def data_files(root):
    """Tiny data for each template, and the config settings that use it."""
    rows = [
        (f"text number {i} with words", "odd" if i % 2 else "even") for i in range(30)
    ]
    (root / "labelled.csv").write_text(
        "text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows)
    )
    (root / "corpus.txt").write_text(
        "the quick brown fox jumps over the lazy dog\n" * 30
    )
    (root / "pairs.tsv").write_text(
        "".join(f"hello world {i}\tHOLA MUNDO {i}\n" for i in range(30))
    )
    return {
        "classification": {"data": str(root / "labelled.csv"), "sequence_length": 12},
        "generation": {"data": str(root / "corpus.txt"), "sequence_length": 10},
        "translation": {"data": str(root / "pairs.tsv")},
    }


def make_export(tmp_path_factory, kind, out, seed=0, version=None):
    """An export of `kind` (untrained, weights drawn with `seed`) made by the
    task's own `serving`, copied to `out/<version>` (default: the next);
    returns its path. Each (kind, seed) is built once per test session, for
    all pytest-xdist workers (see `shared_builds.shared`)."""
    name = f"serving-{kind}-{seed}"
    shared_builds.BUILDS.setdefault(name, lambda folder: _build(folder, kind, seed))
    built = shared_builds.shared(tmp_path_factory, name) / "out" / "1"
    version = version or export.next_version(out)
    return copy_version(built, pathlib.Path(out) / str(version))


def _build(root, kind, seed):
    settings = data_files(root)
    task = tasks.locate(tasks.copy_template(kind, root / kind, force=True))
    config = task.config({**SMALL, **settings[kind]})
    data = task.module.read_data(config, task.folder)
    keras.utils.set_random_seed(seed)
    model = task.module.build_model(config, data)
    meta = {
        "task": kind,
        **task.module.metadata(config, data, model),
        "hyperparameters": config,
    }
    export.write(task.module.serving(model, meta), meta, root / "out", 1)


class Served:
    """`rnnkit serve` running in a subprocess; `url` is the model's URL.

    Args:
        path: The export folder to serve.
        *flags: More command-line flags.
    """

    def __init__(self, path, *flags):
        command = [sys.executable, "-m", "rnnkit", "serve", str(path), "--port", "0"]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.process = subprocess.Popen(
            [*command, *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(line) for line in self.process.stdout],
            daemon=True,
        ).start()
        try:
            self.ready_line = lines.get(timeout=120)
        except queue.Empty:
            self.process.kill()
            raise AssertionError("rnnkit serve did not print its ready line") from None
        found = READY.match(self.ready_line)
        assert found, self.ready_line
        self.name, version, self.url, signatures = found.groups()
        self.version = int(version)
        self.signatures = signatures.split(", ")
        self.session = requests.Session()

    def predict(self, body, version=None):
        """`(status, JSON)` of a POST to `:predict`."""
        url = self.url + (f"/versions/{version}" if version else "") + ":predict"
        response = self.session.post(url, json=body, timeout=120)
        return response.status_code, response.json()

    def get(self, suffix=""):
        response = self.session.get(self.url + suffix, timeout=60)
        return response.status_code, response.json()

    def stop(self, signum=signal.SIGTERM, timeout=60):
        """Signals the server; returns `(exit status, stderr)`."""
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        return self.process.returncode, self.process.stderr.read()


@contextlib.contextmanager
def served(path, *flags):
    server = Served(path, *flags)
    try:
        yield server
    finally:
        server.stop()


def copy_version(source, destination):
    """Copies a version folder file by file, as a user's `cp -r` would (not
    atomically)."""
    shutil.copytree(source, destination)
    return pathlib.Path(destination)
