"""Builds that several test modules share, made once per test session for
all pytest-xdist workers: tiny trained tasks and exports, registered by
name in `BUILDS` (a function that fills a folder) and fetched with
`shared`. Whoever uses one copies it first; a build is never changed."""

import fcntl
import os
import shutil

import pytest

# name -> build(folder); tests/adversarial/support.py and
# tests/serving/serving_support.py register theirs.
BUILDS = {}
_BUILT = {}


def _base(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this session
    return base


def _build_locked(base, name, build):
    """Builds `name` unless built; the caller holds its lock."""
    folder = base / f"shared-{name}"
    failed = base / f"shared-{name}-failed.txt"
    if failed.exists():
        pytest.fail(f"building {name} failed:\n{failed.read_text()}")
    if not (folder / ".built").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        try:
            build(folder)
        except BaseException as error:
            failed.write_text(str(error))
            raise
        (folder / ".built").touch()
    return folder


def wanted(session):
    """The builds the tests of this session ask for: each test module lists
    its own in `SHARED_BUILDS`."""
    names = set()
    for item in getattr(session, "items", ()):
        names.update(getattr(item.module, "SHARED_BUILDS", ()))
    return sorted(names)


def shared(tmp_path_factory, name, session=None):
    """The folder of the build `name` (see `BUILDS`), made once per test
    session, for all pytest-xdist workers: while one worker builds it, the
    others build whatever else the session wants (see `wanted`), then wait.
    A failed build fails every test that asks for it, without a second try."""
    if name in _BUILT:
        return _BUILT[name]
    base = _base(tmp_path_factory)
    with open(base / f"shared-{name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            for other in wanted(session):
                if other != name and other not in _BUILT:
                    _build_if_free(base, other)
            fcntl.flock(lock, fcntl.LOCK_EX)
        _BUILT[name] = _build_locked(base, name, BUILDS[name])
    return _BUILT[name]


def _build_if_free(base, name):
    """Builds `name` unless another worker holds its lock, or it failed."""
    with open(base / f"shared-{name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        if not (base / f"shared-{name}-failed.txt").exists():
            try:
                _BUILT[name] = _build_locked(base, name, BUILDS[name])
            except Exception:
                pass  # the tests that need it report the failure
