"""Two processes at once (RELIABILITY.md 34): two exports, or two trainings,
started together never claim the same version or run, and never replace
each other's work. The loser takes the next number, or stops with one
clear line."""

import pathlib

import pytest
from support import (
    TINY,
    check_error,
    classification,
    copy,
    finish,
    only_changes,
    start,
)

pytestmark = pytest.mark.slow
# What the shared builds of `support` must hold for this module.
SHARED_BUILDS = ("classification",)


@pytest.fixture(scope="module")
def clf(tmp_path_factory, request):
    return classification(tmp_path_factory, request.session)


def together(args, cwd, times=2):
    processes = [start(args, cwd) for _ in range(times)]
    return [finish(process) for process in processes]


def test_two_exports_at_once(clf, tmp_path):
    task = copy(clf.task, tmp_path / "task")
    out = tmp_path / "out"
    with only_changes(tmp_path, allowed=[out]):
        results = together(["export", task, "--run", "r1", "--out", out], tmp_path)
    done = [result for result in results if result.status == 0]
    for result in results:
        if result.status != 0:
            check_error(result, "export", result.status)
    assert done, [result.describe() for result in results]
    printed = [result.stdout.strip().splitlines()[-1] for result in done]
    assert len(set(printed)) == len(printed), f"both claimed {printed}"
    for path in map(pathlib.Path, printed):
        assert path.parent == out / "task", path
        assert (path / "saved_model.pb").is_file(), path
    versions = sorted(p.name for p in (out / "task").iterdir())
    assert versions == [str(n) for n in range(1, len(done) + 1)], versions


def test_two_trainings_at_once(clf, tmp_path):
    task = copy(clf.task, tmp_path / "task")
    before = {p.name for p in (task / "runs").iterdir()}
    with only_changes(tmp_path, allowed=[task / "runs"]):
        results = together(["train", task, "--data", clf.data, *TINY], tmp_path)
    done = [result for result in results if result.status == 0]
    for result in results:
        if result.status != 0:
            check_error(result, "train", result.status)
    assert done, [result.describe() for result in results]
    printed = [result.stdout.strip().splitlines()[-2] for result in done]
    assert len(set(printed)) == len(printed), f"both claimed {printed}"
    new = {p.name for p in (task / "runs").iterdir()} - before
    assert len(new) == len(done), new
    for name in new:
        assert (task / "runs" / name / "metrics.json").is_file(), name
