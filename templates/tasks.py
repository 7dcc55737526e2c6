"""Finding a task: a built-in template name or a copied task folder.

A task folder holds `task.py` (the task's code, checked against
`rnnkit.templates.contract` when it is loaded) and `config.toml` (its
settings, and their schema). A built-in name used directly keeps its runs
in `./<name>/` under the current directory.
"""

import dataclasses
import hashlib
import importlib.util
import inspect
import pathlib
import shutil

from rnnkit.templates import config as settings
from rnnkit.templates import contract
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
        """The task's `config.toml` with `overrides`, checked by the task."""
        resolved = settings.load(
            self.folder / "config.toml", overrides, self.folder / "task.py"
        )
        self.module.check_config(resolved)
        return resolved

    def custom_objects(self):
        """The Keras classes task.py defines, which its saved models need."""
        return custom_objects(self.module)


def custom_objects(module):
    """`{name: class}` of the Keras layers and models defined in `module`."""
    import keras

    return {
        name: value
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, keras.layers.Layer)
        and value.__module__ == module.__name__
    }


def load_module(path):
    """Imports `task.py` from `path` under a name unique to its location,
    and checks it against the task contract."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"rnnkit_task_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise RnnkitError(
            f"{path}, line {error.lineno}: {error.msg}; fix the task's code"
        ) from None
    except ImportError as error:
        raise RnnkitError(f"{path}: {error}; fix the task's imports") from None
    contract.check(module, path)
    return module


def find(target):
    """`(folder, workdir)` of a task folder holding `task.py`, or of a
    built-in name; its code is not loaded."""
    path = pathlib.Path(target)
    if (path / "task.py").is_file():
        return path.resolve(), path.resolve()
    if str(target) in BUILT_IN:
        return template_folder(str(target)), path.resolve()
    raise RnnkitError(
        f"{target}: neither a task folder (no task.py) nor a built-in task. "
        f"Built-in tasks: {', '.join(BUILT_IN)}"
    )


def locate(target):
    """The task for a folder holding `task.py`, or for a built-in name."""
    folder, workdir = find(target)
    return Task(load_module(folder / "task.py"), folder, workdir)


def check_runs(target, run_id=None):
    """The error a task's run lookup would give when `target` has no run
    `run_id` (or, without one, no completed run at all), without loading
    its code: commands that need a run answer before TensorFlow loads."""
    from rnnkit.templates import runs

    _, workdir = find(target)
    runs.check_pickable(workdir, run_id)


def check_settings(target, overrides):
    """The keys and types of `overrides` against the task's config.toml,
    without loading its code (or TensorFlow): a mistake answers at once."""
    folder, _ = find(target)
    settings.load(folder / "config.toml", overrides, folder / "task.py")


def template_folder(kind):
    """The installed folder of the built-in template `kind`."""
    if kind not in BUILT_IN:
        raise RnnkitError(
            f"unknown task {kind!r}. Built-in tasks: {', '.join(BUILT_IN)}"
        )
    folder = TEMPLATES / kind
    if not (folder / "task.py").is_file():
        raise RnnkitError(
            f"{folder}: the {kind} template is missing from this installation "
            "of rnnkit; reinstall it (pip install --force-reinstall rnnkit)"
        )
    return folder


def copy_template(kind, destination, force=False):
    """Copies the built-in template `kind` to `destination`."""
    source = template_folder(kind)
    destination = pathlib.Path(destination)
    if destination.exists() and any(destination.iterdir()) and not force:
        raise RnnkitError(
            f"{destination}: folder exists and is not empty; pass --force to "
            "overwrite the template files in it"
        )
    shutil.copytree(source, destination, ignore=COPY_IGNORE, dirs_exist_ok=True)
    return destination
