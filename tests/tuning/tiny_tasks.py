"""Tiny copies of each template for real, seconds-long searches.

Each task is a template copied with `rnnkit new`, its data replaced by a
small file, and its `config.toml` shrunk so that a trial trains in a second
or two on two CPU cores.
"""

import pathlib
import random

from rnnkit.templates import config as settings
from rnnkit.templates import tasks

SMALL_SEARCH = {
    "max_trials": 3,
    "epochs": 1,
    "units": [4, 16],
    "embedding_dim": [4, 16],
    "layers": [1, 2],
}
SHRUNK = {
    "classification": {"sequence_length": 12, "batch_size": 16},
    "generation": {"sequence_length": 12, "stride": 6, "batch_size": 16},
    "translation": {
        "source_tokenization": "character",
        "target_tokenization": "character",
        "source_length": 8,
        "target_length": 8,
        "batch_size": 16,
    },
}
TOPICS = {
    "cooking": "oven recipe flour butter sugar bake salt pepper".split(),
    "space": "rocket orbit planet star moon galaxy comet launch".split(),
    "sports": "ball goal team match score player coach league".split(),
}


def _write_data(kind, path, rng):
    if kind == "classification":
        rows = ["text,label"] + [
            f"{' '.join(rng.choices(words, k=6))},{label}"
            for _ in range(20)
            for label, words in TOPICS.items()
        ]
        path.write_text("\n".join(rows) + "\n")
    elif kind == "generation":
        path.write_text("the cat sat on the mat. " * 40)
    else:
        words = [
            "".join(rng.choices("abcdef", k=rng.randint(3, 6))) for _ in range(120)
        ]
        path.write_text("".join(f"{w}\t{w[::-1]}\n" for w in words))


def make(kind, root, search=None, **config):
    """A tiny task folder of `kind` under `root`; returns its path.

    `search` updates its `[search]` table and `config` its other settings."""
    folder = pathlib.Path(root) / kind
    tasks.copy_template(kind, folder)
    suffix = {"classification": ".csv", "generation": ".txt", "translation": ".tsv"}
    data = folder / "data" / f"tiny{suffix[kind]}"
    _write_data(kind, data, random.Random(0))
    resolved = tasks.locate(folder).config(
        {
            "data": str(data.relative_to(folder)),
            "units": 8,
            "embedding_dim": 8,
            "epochs": 1,
            **SHRUNK[kind],
            **config,
            "search": {**SMALL_SEARCH, **(search or {})},
        }
    )
    settings.write(resolved, folder / "config.toml")
    return folder


# With `fixed_search`: the config's values that the fixed ranges hold.
FIXED_CONFIG = {"layers": 1, "dropout": 0.0, "learning_rate": 0.01}


def fixed_search(**values):
    """A classification [search] table whose only free choices are `values`:
    every other range holds one value, `FIXED_CONFIG`'s and the task's."""
    return {
        "units": [8, 8],
        "embedding_dim": [8, 8],
        "layers": [1, 1],
        "dropout": [0.0, 0.0],
        "learning_rate": [0.01, 0.01],
        "bidirectional": [False],
        **values,
    }


def rnn_then_gru(root):
    """A classification task whose grid search runs an rnn, then a gru,
    with everything else fixed."""
    return make(
        "classification",
        root,
        search=fixed_search(cells=["rnn", "gru"], tuner="grid", max_trials=2),
        cell="rnn",
        **FIXED_CONFIG,
    )
