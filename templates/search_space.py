"""The hyperparameters every recurrent template searches, for `rnnkit tune`.

The ranges come from the `[search]` table of the task's `config.toml`; each
default is the task's own setting, so a search starts from the model that
`rnnkit train` builds. Hyperparameters that only one cell type has (GRU's
`reset_after`, LSTM's `unit_forget_bias`) sit in a conditional scope: active,
and shown in trial summaries, only when that cell type is chosen.
"""

from rnnkit.layers import CELL_TYPES
from rnnkit.templates.errors import ConfigError

TUNERS = ("random", "bayesian", "local", "hyperband", "grid")
# [search] keys holding a [low, high] range, with the type of their ends.
RANGES = {
    "units": int,
    "layers": int,
    "embedding_dim": int,
    "dropout": float,
    "learning_rate": float,
}


def _fail(key, message, value):
    raise ConfigError(f"[search] `{key}` {message}. Received: {key} = {value!r}")


def _check_range(search, key, kind):
    value = search[key]
    if (
        len(value) != 2
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
        or (kind is int and not all(isinstance(v, int) for v in value))
        or not 0 <= value[0] <= value[1]
    ):
        _fail(
            key, f"must be [low, high] with 0 <= low <= high ({kind.__name__})", value
        )


def _check_choices(search, key, allowed):
    value = search[key]
    if (
        not value
        or any(v not in allowed for v in value)
        or len(set(value)) != len(value)
    ):
        _fail(key, f"must list distinct values from {tuple(allowed)}", value)


def check(config, choices=()):
    """Checks the `[search]` table; `choices` maps extra keys to their values
    (for example `{"attention": ATTENTION}`)."""
    search = config["search"]
    if not isinstance(search, dict):
        raise ConfigError(
            f"`search` must be a table ([search] with the ranges `rnnkit tune` "
            f"searches). Received: search = {search!r}"
        )
    if search["tuner"] not in TUNERS:
        _fail("tuner", f"must be one of {TUNERS}", search["tuner"])
    for key in ("max_trials", "epochs", "executions_per_trial"):
        if search[key] < 1:
            _fail(key, "must be at least 1", search[key])
    _check_choices(search, "cells", CELL_TYPES)
    for key, kind in RANGES.items():
        _check_range(search, key, kind)
    if search["learning_rate"][0] <= 0:
        _fail("learning_rate", "must be above 0", search["learning_rate"])
    if search["units"][0] < 1 or search["embedding_dim"][0] < 1:
        _fail("units", "and `embedding_dim` must start at 1 or more", search["units"])
    for key, allowed in {"bidirectional": (False, True), **dict(choices)}.items():
        if key in search:
            _check_choices(search, key, allowed)


def check_defaults(config):
    """Each setting is its hyperparameter's default, so it must lie in range.

    Checked by `rnnkit tune` only: `rnnkit train --units 8` stays valid."""
    search = config["search"]
    for key in RANGES:
        low, high = search[key]
        if not low <= config[key] <= high:
            raise ConfigError(
                f"`{key} = {config[key]!r}` lies outside its [search] range "
                f"{search[key]}. The setting is the search's default: widen the "
                f"range or change the setting (--set {key}=...)"
            )


def _choice(hp, name, values, default):
    """A Choice, or a Fixed when the range holds one value."""
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    if all(isinstance(v, bool) for v in values):
        return hp.Boolean(name, default=default)  # a Choice would make them 0/1
    return hp.Choice(name, list(values), default=default)


def recurrent(hp, config):
    """Cell type, size, depth, embedding size, dropout and learning rate."""
    search = config["search"]
    cells = search["cells"]
    default_cell = config["cell"] if config["cell"] in cells else cells[0]
    cell = _choice(hp, "cell", cells, default_cell)
    chosen = {"cell": cell}
    for name in ("units", "embedding_dim"):
        low, high = search[name]
        # Powers of two from `low`: sizes that double, as people pick them.
        chosen[name] = hp.Int(
            name, low, high, step=2, sampling="log", default=config[name]
        )
    chosen["layers"] = hp.Int("layers", *search["layers"], default=config["layers"])
    chosen["dropout"] = hp.Float(
        "dropout", *search["dropout"], step=0.1, default=config["dropout"]
    )
    chosen["learning_rate"] = hp.Float(
        "learning_rate",
        *search["learning_rate"],
        sampling="log",
        default=config["learning_rate"],
    )
    with hp.conditional_scope("cell", ["gru"]):
        if cell == "gru":
            chosen["reset_after"] = hp.Boolean("reset_after", default=True)
    with hp.conditional_scope("cell", ["lstm"]):
        if cell == "lstm":
            chosen["unit_forget_bias"] = hp.Boolean("unit_forget_bias", default=True)
    return chosen


def choice(hp, config, name):
    """A task-specific choice (`bidirectional`, `attention`) from `[search]`."""
    values = config["search"][name]
    default = config[name] if config[name] in values else values[0]
    return _choice(hp, name, values, default)


def value_range(hp, config, name, step=None, sampling="linear"):
    """A hyperparameter searched over the `[low, high]` range of `[search]`,
    an int or a float by the range's ends, whose default is the setting of
    the same name: for a setting a copied task adds (see the README's
    "Editing a template")."""
    kind = int if all(isinstance(v, int) for v in config["search"][name]) else float
    _check_range(config["search"], name, kind)
    low, high = config["search"][name]
    if not low <= config[name] <= high:
        raise ConfigError(
            f"`{name} = {config[name]!r}` lies outside its [search] range "
            f"{config['search'][name]}; widen the range or change the setting"
        )
    make = hp.Int if kind is int else hp.Float
    return make(name, low, high, step=step, sampling=sampling, default=config[name])
