"""Writes that never leave a half-written file or folder behind, and reads
that name a damaged file.

A file is written to a temporary sibling, flushed to disk, then renamed over
the target: a reader sees the old file or the new one, never a mix, and a
failed write leaves the old file intact.
"""

import contextlib
import json
import os
import pathlib
import shutil
import tempfile

from rnnkit.templates.errors import CorruptError


def _new_file_mode():
    """What `open()` would give a new file: 0o666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path, text):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # mkstemp makes the file private (0600); a report or a config in a
        # run folder should be as readable as any file the user writes.
        os.fchmod(fd, _new_file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path, what="file"):
    """The JSON in `path`; a damaged one is a `CorruptError` naming it."""
    path = pathlib.Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError too
        raise CorruptError(
            f"{path}: the {what} is damaged (not JSON: {error}); delete or restore it"
        ) from None


def write_json(path, data):
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def replace_directory(staged, target):
    """Moves the finished folder `staged` to `target`, replacing any old one.

    The old folder is moved aside first and deleted only once the new one is
    in place, so `target` is at every moment either complete or absent.
    """
    staged, target = pathlib.Path(staged), pathlib.Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old)
