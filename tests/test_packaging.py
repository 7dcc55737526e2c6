"""A wheel, and a non-editable install of it, carry the task templates.

`rnnkit new` and `rnnkit demo` copy `templates/<kind>/` (task.py, config.toml,
data/) out of the installed package. Those folders are package data, not
packages, so only pyproject's package-data puts them into a wheel: without it
an editable install works and `pip install .` does not. These tests build the
wheel as `pip install .` would, compare its templates with the sources, then
install it into a fresh venv and run the CLI from an empty folder.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile

import pytest

from rnnkit.templates import text_files
from rnnkit.templates.tasks import BUILT_IN, COPY_IGNORE

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
ENV.pop("PYTHONPATH", None)  # it could lead the fresh venv back to the checkout
# What a used checkout holds in its template folders and `rnnkit new` leaves
# out (COPY_IGNORE); planted in the copy the wheel is built from, so that the
# wheel's exclusions are tested, not only its inclusions.
STRAYS = (
    "__pycache__/task.cpython-311.pyc",
    "data/stray.pyc",
    "runs/run-1/model.keras",
    "tuning/oracle.json",
)


def run(*command, cwd=None, timeout=600):
    """Runs `command`; asserts that it succeeds, with its output as the message."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


def files_under(folder):
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
    }


def copied_files(template, scratch):
    """The files `rnnkit new` copies out of `template`, by its own copytree."""
    shutil.copytree(template, scratch, ignore=COPY_IGNORE)
    return files_under(scratch)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A copy of what `pip install .` reads, so that the build's build/ and
    *.egg-info land in it, not in the checkout, and parallel runs don't race."""
    copy = tmp_path_factory.mktemp("source")
    shutil.copy2(ROOT / "pyproject.toml", copy)
    shutil.copy2(ROOT / "README.md", copy)
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    for folder in set(setuptools["setuptools"]["package-dir"].values()):
        shutil.copytree(
            ROOT / folder,
            copy / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    for kind in BUILT_IN:
        for stray in STRAYS:
            path = copy / "templates" / kind / stray
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("not for the wheel\n")
    return copy


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory):
    # Build isolation fetches the setuptools that pyproject asks for, as
    # `pip install .` does; a fresh Python 3.11 venv's own is older (65.5).
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, source)
    (built,) = out.glob("rnnkit-*.whl")
    return built


def test_wheel_holds_every_file_rnnkit_new_copies(source, wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    for kind in BUILT_IN:
        expected = copied_files(source / "templates" / kind, tmp_path / kind)
        # The listing is read from the sources, so a file added later counts.
        assert {"task.py", "config.toml", "data/SOURCE.md"} <= expected
        prefix = f"rnnkit/templates/{kind}/"
        in_wheel = {n.removeprefix(prefix) for n in names if n.startswith(prefix)}
        assert in_wheel == expected, kind
    ignored = {"__pycache__", "runs", "tuning"}
    strays = [
        name
        for name in names
        if name.startswith("rnnkit/templates/")
        and (name.endswith(".pyc") or ignored & set(name.split("/")[2:-1]))
    ]
    assert strays == []


@pytest.mark.slow
def test_installed_wheel_works_from_an_empty_folder(source, wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, rnnkit = venv / "bin" / "python", venv / "bin" / "rnnkit"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = pathlib.Path(run(python, "-c", where).stdout.strip()).resolve()
    # TensorFlow and the other dependencies (gigabytes) are borrowed from this
    # interpreter. A .pth line only appends its folder to sys.path; the .pth
    # files in that folder are not run, so the editable install's finder,
    # which maps `rnnkit` to the checkout, stays off.
    (purelib / "borrowed-dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n"
    )
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel)

    empty = tmp_path / "empty"  # the cwd: the checkout can't be imported from it
    empty.mkdir()
    imported = run(
        python,
        "-c",
        "import rnnkit, rnnkit.templates\n"
        "print(rnnkit.__file__)\nprint(rnnkit.templates.__file__)",
        cwd=empty,
    ).stdout.split()
    assert len(imported) == 2
    assert all(pathlib.Path(p).resolve().is_relative_to(purelib) for p in imported)

    for kind in BUILT_IN:
        run(rnnkit, "new", kind, kind, cwd=empty)
        template = source / "templates" / kind
        expected = copied_files(template, tmp_path / "expected" / kind)
        assert files_under(empty / kind) == expected

    demo = tmp_path / "demo"
    result = run(
        *(rnnkit, "demo", "--dir", demo, "--epochs", "1", "--max-trials", "1"),
        cwd=empty,
        timeout=900,
    )
    assert "Traceback" not in result.stderr
    assert list((demo / "saved_models").rglob("saved_model.pb"))

    # The rest of a user's day, on the copies of the other two templates. The
    # generator trains on its bundled text; the translator, whose bundled
    # pairs take 100 s an epoch on a slow CPU, on their first 300 lines.
    small = ("--epochs", "1", "--set", "units=8", "--set", "embedding_dim=8")
    for kind, question, first_lines in (
        ("generation", ("generate", "LAWYER, n.", "--max-length", "20"), None),
        ("translation", ("translate", "Where is it?", "--beam-width", "2"), 300),
    ):
        question = (*question, "--json")  # a generated text may hold line breaks
        # The bundled data's first lines (read as rnnkit reads them, gzip or
        # not): held out, and the translator's training data.
        bundled = next((empty / kind / "data").glob("*.t*"))
        lines = text_files.read_text(bundled).splitlines(True)
        suffix = ".tsv" if kind == "translation" else ".txt"
        held_out = empty / f"held-out{suffix}"
        held_out.write_text("".join(lines[:40]))
        data = ()
        if first_lines:
            (empty / f"first{suffix}").write_text("".join(lines[:first_lines]))
            data = ("--data", empty / f"first{suffix}")
        run(rnnkit, "train", kind, *data, *small, cwd=empty)
        run(rnnkit, "diagnose", "gates", kind, "The cat", "--out", "g.png", cwd=empty)
        out = run(rnnkit, "export", kind, "--out", "exports", cwd=empty).stdout
        export = out.strip()
        answer = run(rnnkit, question[0], export, *question[1:], cwd=empty)
        # One JSON line per text (an untrained translator may well answer "").
        assert answer.stdout.count("\n") == 1 and "Traceback" not in answer.stderr
        assert question[1] in json.loads(answer.stdout).values()
        run(rnnkit, "evaluate", export, "--data", held_out, "--json", cwd=empty)
        assert kind in run(rnnkit, "info", export, cwd=empty).stdout
