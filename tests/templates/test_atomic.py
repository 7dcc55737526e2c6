"""Atomic writes: a failed write leaves the old file, and no litter."""

import os

import pytest

from rnnkit.templates import atomic


def test_write_replaces_the_file(tmp_path):
    path = tmp_path / "state.json"
    atomic.write_json(path, {"a": 1})
    atomic.write_json(path, {"a": 2})
    assert path.read_text() == '{\n  "a": 2\n}\n'
    assert os.listdir(tmp_path) == ["state.json"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    atomic.write_json(path, {"old": True})

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic.write_json(path, {"new": True})
    assert path.read_text() == '{\n  "old": true\n}\n'
    assert os.listdir(tmp_path) == ["state.json"]


def test_replace_directory(tmp_path):
    target = tmp_path / "1"
    for content in ("first", "second"):
        staged = tmp_path / f".staged-{content}"
        staged.mkdir()
        (staged / "file").write_text(content)
        atomic.replace_directory(staged, target)
    assert (target / "file").read_text() == "second"
    assert sorted(os.listdir(tmp_path)) == ["1"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_follow_the_umask_like_open(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic.write_text(tmp_path / "report.md", "# report\n")
        with open(tmp_path / "plain.md", "w") as file:
            file.write("# plain\n")
    finally:
        os.umask(old)
    mode = (tmp_path / "report.md").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.md").stat().st_mode & 0o777 == 0o666 & ~umask
