"""Finding a task: a built-in template name or a copied task folder.

A task folder holds `task.py` (the task's code) and `config.toml` (its
settings). The built-in template of the same kind (`task.TASK`) supplies
the config schema. A built-in name used directly keeps its runs in
`./<name>/` under the current directory.
"""

import dataclasses
import hashlib
import importlib.util
import pathlib
import shutil

from rnnkit.templates import config as settings
from rnnkit.templates.errors import RnnkitError

TEMPLATES = pathlib.Path(__file__).resolve().parent
BUILT_IN = ("classification", "generation", "translation")
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "runs", "tuning")


@dataclasses.dataclass
class Task:
    """A task's code, where its settings and data live, and where it works."""

    module: object  # the loaded task.py
    folder: pathlib.Path  # holds task.py, config.toml and data/
    workdir: pathlib.Path  # holds runs/

    @property
    def kind(self):
        return self.module.TASK

    def config(self, overrides=None):
        schema = TEMPLATES / self.kind / "config.toml"
        resolved = settings.load(schema, self.folder / "config.toml", overrides)
        self.module.check_config(resolved)
        return resolved


def load_module(path):
    """Imports `task.py` from `path` under a name unique to its location."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"rnnkit_task_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def locate(target):
    """The task for a folder holding `task.py`, or for a built-in name."""
    path = pathlib.Path(target)
    if (path / "task.py").is_file():
        folder = path.resolve()
        return Task(load_module(folder / "task.py"), folder, folder)
    if str(target) in BUILT_IN:
        folder = TEMPLATES / str(target)
        return Task(load_module(folder / "task.py"), folder, path.resolve())
    raise RnnkitError(
        f"{target}: neither a task folder (no task.py) nor a built-in task. "
        f"Built-in tasks: {', '.join(BUILT_IN)}"
    )


def built_in(kind):
    """The built-in task module of `kind`, e.g. for a SavedModel's task."""
    if kind not in BUILT_IN:
        raise RnnkitError(
            f"unknown task {kind!r}. Built-in tasks: {', '.join(BUILT_IN)}"
        )
    return load_module(TEMPLATES / kind / "task.py")


def copy_template(kind, destination, force=False):
    """Copies the built-in template `kind` to `destination`."""
    if kind not in BUILT_IN:
        raise RnnkitError(
            f"unknown task {kind!r}. Built-in tasks: {', '.join(BUILT_IN)}"
        )
    destination = pathlib.Path(destination)
    if destination.exists() and any(destination.iterdir()) and not force:
        raise RnnkitError(
            f"{destination}: folder exists and is not empty; pass --force to "
            "overwrite the template files in it"
        )
    shutil.copytree(
        TEMPLATES / kind, destination, ignore=COPY_IGNORE, dirs_exist_ok=True
    )
    return destination
