"""Helpers of the adversarial suite (RELIABILITY.md 33-38): run the real
`rnnkit` in a subprocess and read its one-line error, check in one line that
nothing outside the intended folder was created, changed or removed, and
build tiny trained tasks and exports once per test session.

Every test here damages a copy (`copy`) of a shared build, never the build.
"""

import contextlib
import hashlib
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import time
import types
from typing import NamedTuple

import pytest

# tests/cli/cli_support.py holds the CLI helpers all CLI tests share, and
# tests/shared_builds.py the once-per-session builds.
TESTS = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS / "cli"), str(TESTS)]
import shared_builds  # noqa: E402
from cli_support import (  # noqa: E402
    MODULE,
    TF_LOG_LINE,
    TINY,
    console_script,
    examples,
    write_csv,
)

# The console script, as a user runs it; `python -m rnnkit` without one.
COMMAND = [console_script()] if console_script() else MODULE
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

# Tiny settings for the generation and translation templates.
GENERATION = [
    "--epochs",
    "1",
    "--set",
    "units=8",
    "--set",
    "embedding_dim=8",
    "--set",
    "sequence_length=8",
    "--set",
    "batch_size=8",
    "--set",
    "sample_length=10",
]
TRANSLATION = [
    "--epochs",
    "1",
    "--set",
    "units=8",
    "--set",
    "embedding_dim=8",
    "--set",
    'source_tokenization="character"',
    "--set",
    'target_tokenization="character"',
    "--set",
    "source_length=8",
    "--set",
    "target_length=8",
    "--set",
    "batch_size=8",
]


# Running the CLI ------------------------------------------------------------


class Outcome(NamedTuple):
    """What a command did: its exit status, the first line of its error
    message ("" if none), and all it printed."""

    status: int
    error: str
    output: str
    stdout: str
    stderr: str

    def message_lines(self):
        return message_lines(self.stderr)

    def describe(self):
        return (
            f"exit {self.status}\n--- stdout:\n{self.stdout}\n"
            f"--- stderr:\n{self.stderr}"
        )


def noise(line):
    """TensorFlow's start-up log, and rnnkit's own warnings (`rnnkit: ...`)."""
    return bool(TF_LOG_LINE.match(line)) or line.startswith("rnnkit: ")


def message_lines(stderr):
    """stderr without noise (see `noise`) and blank lines."""
    return [line for line in stderr.splitlines() if line.strip() and not noise(line)]


def decoded(data):
    return data.decode("utf-8", errors="replace") if data else ""


def no_traceback(stdout, stderr):
    assert "Traceback" not in stdout + stderr, f"a traceback:\n{stdout}\n{stderr}"


def outcome(status, stdout, stderr):
    """An `Outcome`, after checking that no traceback was printed."""
    stdout, stderr = decoded(stdout), decoded(stderr)
    no_traceback(stdout, stderr)
    lines = message_lines(stderr)
    return Outcome(status, lines[0] if lines else "", stdout + stderr, stdout, stderr)


def attempt(args, cwd, stdin=b"", timeout=240, **kwargs):
    """Runs `rnnkit <args>` in `cwd` with `stdin` (bytes; empty by default,
    so a command never waits on the terminal); returns an `Outcome`. A
    traceback fails the test."""
    try:
        result = subprocess.run(
            [*COMMAND, *map(str, args)],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=ENV,
            **kwargs,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            f"rnnkit {' '.join(map(str, args))} ran over {timeout} s:\n"
            f"{decoded(error.stdout)}\n{decoded(error.stderr)}"
        )
    return outcome(result.returncode, result.stdout, result.stderr)


def check_error(result, command, status, *words):
    """`result` exited with `status` and one error line, `rnnkit <command>:
    error: ...`, holding each of `words`. Returns the line."""
    assert result.status == status, result.describe()
    assert result.error.startswith(f"rnnkit {command}: error: "), result.describe()
    assert len(result.message_lines()) == 1, f"not one line:\n{result.describe()}"
    for word in words:
        assert str(word) in result.error, f"{word!r} not in: {result.error}"
    return result.error


def fails(args, command, status, *words, cwd, **kwargs):
    """Runs `rnnkit <args>`; asserts `check_error`. Returns the `Outcome`."""
    result = attempt(args, cwd, **kwargs)
    check_error(result, command, status, *words)
    return result


def succeeds(args, cwd, **kwargs):
    """Runs `rnnkit <args>`; asserts exit 0. Returns the `Outcome`."""
    result = attempt(args, cwd, **kwargs)
    assert result.status == 0, result.describe()
    return result


def without(text, *paths):
    """`text` less the paths in it (whose digits would match a count)."""
    for path in sorted(map(str, paths), key=len, reverse=True):
        text = text.replace(path, "<path>")
    return text


# Ctrl-C ----------------------------------------------------------------------


def start(args, cwd, stdin=subprocess.DEVNULL):
    """`rnnkit <args>` started in its own process group, as a shell starts a
    foreground job, so that `interrupt` reaches it and its children."""
    return subprocess.Popen(
        [*COMMAND, *map(str, args)],
        cwd=cwd,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        start_new_session=True,
    )


def wait_for(condition, timeout, process=None, step=0.1):
    """Waits until `condition()`; fails if `process` ends first or time is up."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(
                f"ended (exit {process.returncode}) too soon:\n"
                f"{decoded(out)}\n{decoded(err)}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s in vain")
        time.sleep(step)


def interrupt(process, timeout=90):
    """Ctrl-C: SIGINT to the process group; returns its `Outcome`."""
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(0.5)  # before communicate() closes its stdin
    return finish(process, timeout)


def finish(process, timeout=240):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"still running after {timeout} s:\n{decoded(out)}\n{decoded(err)}")
    return outcome(process.returncode, out, err)


# Nothing outside the intended folder ------------------------------------------


def _digest(path):
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def snapshot(root):
    """`{relative path: what it is}` for every file, folder and link under
    `root`: a file by its mode, size, mtime_ns and sha256."""
    root = pathlib.Path(root)
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = pathlib.Path(folder, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entry = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                entry = ("folder", stat.S_IMODE(info.st_mode))
            elif stat.S_ISREG(info.st_mode):
                entry = (
                    "file",
                    stat.S_IMODE(info.st_mode),
                    info.st_size,
                    info.st_mtime_ns,
                    _digest(path),
                )
            else:
                entry = ("other", stat.S_IFMT(info.st_mode))
            found[path.relative_to(root)] = entry
    return found


def differences(before, after):
    """`[(relative path, "created" | "removed" | "changed")]`."""
    changes = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            changes.append((path, "created"))
        elif path not in after:
            changes.append((path, "removed"))
        elif before[path] != after[path]:
            changes.append((path, "changed"))
    return changes


@contextlib.contextmanager
def only_changes(root, allowed=()):
    """Asserts that every file or folder under `root` created, changed or
    removed inside the block is one of `allowed` or under one of them.

        with only_changes(tmp_path, allowed=[task / "runs"]):
            ...
    """
    root = pathlib.Path(root)
    allowed = [
        pathlib.Path(a).relative_to(root)
        if pathlib.Path(a).is_absolute()
        else pathlib.Path(a)
        for a in allowed
    ]
    before = snapshot(root)
    yield
    after = snapshot(root)
    outside = [
        f"{kind}: {root / path}"
        for path, kind in differences(before, after)
        if not any(path == a or a in path.parents for a in allowed)
    ]
    assert not outside, "changed outside {}:\n{}".format(
        [str(root / a) for a in allowed] or "(nothing allowed)", "\n".join(outside)
    )


def build_step(args, cwd):
    result = attempt(args, cwd, timeout=300)
    assert result.status == 0, f"rnnkit {' '.join(map(str, args))}\n{result.describe()}"
    return result.stdout.strip().splitlines()


def _classification(root):
    data = write_csv(root / "data.csv", examples())
    build_step(["new", "classification", root / "task"], root)
    build_step(["train", root / "task", "--data", data, "--run-id", "r1", *TINY], root)
    # a second complete run, the same as the first
    shutil.copytree(root / "task" / "runs" / "r1", root / "task" / "runs" / "r2")
    build_step(
        [
            "export",
            root / "task",
            "--run",
            "r1",
            "--out",
            root / "out",
            "--name",
            "clf",
        ],
        root,
    )


def classification(tmp_path_factory, session=None):
    """A classification task trained on tiny data (run `r1`, and `r2`, a copy
    of it: two complete runs) and `r1` exported: `root`, `data`, `task`,
    `export`."""
    root = shared_builds.shared(tmp_path_factory, "classification", session)
    return types.SimpleNamespace(
        root=root,
        data=root / "data.csv",
        task=root / "task",
        export=root / "out" / "clf" / "1",
    )


# Repeats the pattern; every character of it is in the vocabulary.
GENERATION_TEXT = "abc abd abe. " * 80


def _generation(root):
    (root / "text.txt").write_text(GENERATION_TEXT)
    build_step(["new", "generation", root / "task"], root)
    build_step(
        [
            "train",
            root / "task",
            "--data",
            root / "text.txt",
            "--run-id",
            "r1",
            *GENERATION,
        ],
        root,
    )
    build_step(["export", root / "task", "--out", root / "out", "--name", "gen"], root)


def generation(tmp_path_factory, session=None):
    """A generation task trained on a tiny text, and its export."""
    root = shared_builds.shared(tmp_path_factory, "generation", session)
    return types.SimpleNamespace(
        root=root,
        data=root / "text.txt",
        task=root / "task",
        export=root / "out" / "gen" / "1",
    )


TRANSLATION_PAIRS = [
    f"{w}\t{w[::-1]}" for w in ("abc", "bca", "cab", "aab", "bba") * 12
]


def _translation(root):
    (root / "pairs.tsv").write_text("\n".join(TRANSLATION_PAIRS) + "\n")
    build_step(["new", "translation", root / "task"], root)
    build_step(
        [
            "train",
            root / "task",
            "--data",
            root / "pairs.tsv",
            "--run-id",
            "r1",
            *TRANSLATION,
        ],
        root,
    )
    build_step(["export", root / "task", "--out", root / "out", "--name", "tr"], root)


def translation(tmp_path_factory, session=None):
    """A character-level translation task trained on tiny pairs, and its
    export."""
    root = shared_builds.shared(tmp_path_factory, "translation", session)
    return types.SimpleNamespace(
        root=root,
        data=root / "pairs.tsv",
        task=root / "task",
        export=root / "out" / "tr" / "1",
    )


shared_builds.BUILDS.update(
    classification=_classification,
    generation=_generation,
    translation=_translation,
)


def copy(source, destination):
    """A copy of the file or folder `source` at `destination` (made with its
    parents); returns `destination`."""
    destination = pathlib.Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if pathlib.Path(source).is_dir():
        shutil.copytree(source, destination, symlinks=True)
    else:
        shutil.copy2(source, destination)
    return destination


def truncate(path, keep=0.5):
    """Cuts the file at `path` to `keep` of its size (at least one byte less)."""
    path = pathlib.Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: min(len(data) - 1, int(len(data) * keep))])
    return path
