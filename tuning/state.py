"""What a search was started with, so that a resume can be refused when it
would mix trials of different searches, and checks of the state on disk.

`tuning/search.json` records the search space, the settings and a digest of
every data file. Keras Tuner keeps its own state beside it in
`tuning/search/`: `oracle.json`, `tuner0.json` and one `trial.json` per
trial, written in place, so a kill can leave them truncated.
"""

import hashlib
import json
import pathlib

import keras_tuner

from rnnkit.templates import atomic
from rnnkit.templates.errors import RnnkitError
from rnnkit.templates.export import rnnkit_version

FINGERPRINT = "search.json"
DATA_KEYS = ("data", "validation_data", "target_data")  # the keys that name files
SEARCH_SETTINGS = ("tuner", "epochs", "executions_per_trial")
START_AFRESH = "start afresh with --overwrite (this deletes the search's trials)"


class TuningStateError(RnnkitError):
    """The search state on disk cannot be resumed."""


def declared_space(task, config):
    """Every hyperparameter the search can set, conditional ones included,
    found by declaring the space once per cell type (no model is built)."""
    hp = keras_tuner.HyperParameters()
    for cell in config["search"]["cells"]:
        hp.values["cell"] = cell
        task.module.hyperparameters(hp, config)
    return hp


def _digest(path):
    sha = hashlib.sha256()
    files = (
        sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    )
    for file in files:
        sha.update(str(file.relative_to(path) if path.is_dir() else "").encode())
        with open(file, "rb") as stream:  # in pieces: data may exceed memory
            while piece := stream.read(1 << 20):
                sha.update(piece)
    return sha.hexdigest()


def fingerprint(task, config):
    """The search's identity: `space`, `settings` and `data` digests."""
    space = declared_space(task, config).get_config()["space"]
    data = {}
    for key in DATA_KEYS:
        if config.get(key):
            path = task.folder / config[key]  # an absolute path stays absolute
            data[config[key]] = _digest(path)
    # Settings are what trains each trial; the space holds the searched
    # keys, their ranges and defaults. A larger max_trials extends a search.
    searched = {h["config"]["name"] for h in space} | {"search"}
    settings = {
        k: v for k, v in config.items() if k not in DATA_KEYS and k not in searched
    }
    settings.update({f"search.{k}": config["search"][k] for k in SEARCH_SETTINGS})
    return {
        "rnnkit_version": rnnkit_version(),
        "space": json.loads(json.dumps(space)),
        "settings": settings,
        "data": data,
    }


def _changed_names(old, new):
    """The hyperparameters whose declaration differs between two spaces."""
    old = {h["config"]["name"]: h for h in old}
    new = {h["config"]["name"]: h for h in new}
    return sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n))


def _changed_keys(old, new):
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def check_resume(folder, current):
    """Refuses to resume a search started with another space, data or
    settings; says what changed and how to start afresh."""
    path = pathlib.Path(folder) / FINGERPRINT
    saved = read_json(path)
    problems = []
    if saved.get("space") != current["space"]:
        names = ", ".join(_changed_names(saved.get("space", []), current["space"]))
        problems.append(f"the search space changed ({names})")
    if saved.get("data") != current["data"]:
        files = ", ".join(_changed_keys(saved.get("data", {}), current["data"]))
        problems.append(f"the data changed ({files})")
    old, new = saved.get("settings", {}), current["settings"]
    if old != new:
        keys = _changed_keys(old, new)
        problems.append(f"the settings changed ({', '.join(keys)})")
    if saved.get("rnnkit_version") != current["rnnkit_version"]:
        problems.append(
            f"rnnkit changed ({saved.get('rnnkit_version')} to "
            f"{current['rnnkit_version']})"
        )
    if problems:
        raise TuningStateError(
            f"{folder}: cannot resume this search: {'; '.join(problems)} since "
            f"it began. Restore them, or {START_AFRESH}"
        )


def read_json(path):
    """A state file's JSON, with an error that names the file when it is
    missing, truncated or corrupt."""
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TuningStateError(
            f"{path}: missing; the search's state is incomplete. {START_AFRESH}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TuningStateError(
            f"{path}: truncated or corrupt search state ({error}). Repair or "
            f"restore the file, or {START_AFRESH}"
        ) from None


def check_files(project):
    """Reads every Keras Tuner state file before Keras Tuner does, which
    would fail with a bare JSONDecodeError on a truncated one."""
    for path in sorted(pathlib.Path(project).rglob("*.json")):
        read_json(path)


def write_fingerprint(folder, current):
    atomic.write_json(pathlib.Path(folder) / FINGERPRINT, current)
