"""Task settings: `config.toml`, overrides, validation and the resolved copy.

A task's own `config.toml` is its schema: its keys are the valid keys and
its values give their types, so a copied task can add a setting by writing
it there. `--set key=value` overrides a key of the same type; an unknown key
is an error that lists the valid ones. A key that the task's code asks for
but its config lacks is an error that names both (see `Config`).
"""

import json
import pathlib
import tomllib

from rnnkit.templates import atomic
from rnnkit.templates.errors import ConfigError


def read_toml(path):
    path = pathlib.Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None


def _check_type(key, value, default, source):
    expected = type(default)
    if expected is float and type(value) is int:
        return float(value)
    if type(value) is not expected:
        raise ConfigError(
            f"{source}: `{key}` must be {expected.__name__}. Received: "
            f"{key}={value!r} ({type(value).__name__})"
        )
    return value


def merge(defaults, overrides, source, schema="the config"):
    """`defaults` updated with `overrides`, whose keys and types must exist
    in `defaults`, read from `schema`."""
    merged = dict(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            valid = ", ".join(sorted(defaults))
            raise ConfigError(
                f"{source}: unknown key `{key}`; {schema} has no such setting "
                f"(add it there to make one). Valid keys: {valid}"
            )
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source}: `{key}` is a table in {schema}. Received: "
                    f"{key}={value!r}"
                )
            value = merge(defaults[key], value, f"{source} [{key}]", schema)
        merged[key] = _check_type(key, value, defaults[key], source)
    return merged


def parse_assignments(assignments):
    """`["units=64", "cell=lstm"]` to `{"units": 64, "cell": "lstm"}`.

    Values are TOML literals (64, 0.5, true, "x"); a bare word is a string.
    """
    parsed = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects key=value. Received: {assignment!r}")
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        parsed[key] = value
    return parsed


class Config(dict):
    """A resolved config: a dict whose missing keys are errors that say
    which config file lacks the key and which code asked for it.

    Args:
        values: The settings.
        source: The `config.toml` they come from.
        code: The task's `task.py`, which reads them.
    """

    def __init__(self, values=(), source="config.toml", code="task.py"):
        super().__init__(values)
        self.source, self.code = str(source), str(code)

    def __missing__(self, key):
        raise ConfigError(
            f"{self.code} uses the setting `{key}`, but {self.source} does not "
            f"set it; add `{key} = ...` to {self.source}"
        )

    def updated(self, changes):
        """A copy with `changes` applied, still a `Config`."""
        return Config({**self, **changes}, self.source, self.code)


def load(config_path, overrides=None, code="task.py"):
    """The resolved config: the file, then `--set` overrides of its keys."""
    values = merge(read_toml(config_path), overrides or {}, "--set", config_path)
    return Config(values, config_path, code)


def _toml_key(key):
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else json.dumps(key, ensure_ascii=False)


def _toml_pairs(table):
    return [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]


def _toml_value(value):
    if isinstance(value, dict):  # a table inside a table: written inline
        return "{" + ", ".join(_toml_pairs(value)) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")


def dumps(config):
    """TOML text for a config: its scalars and lists, then its tables."""
    lines = _toml_pairs({k: v for k, v in config.items() if not isinstance(v, dict)})
    for name, table in config.items():
        if isinstance(table, dict):
            lines += ["", f"[{_toml_key(name)}]", *_toml_pairs(table)]
    return "\n".join(lines) + "\n"


def write(config, path):
    atomic.write_text(path, dumps(config))


def require(config, key, allowed=None, minimum=None, maximum=None):
    """Checks one value's range; returns it."""
    value = config[key]
    if allowed is not None and value not in allowed:
        raise ConfigError(
            f"`{key}` must be one of {tuple(allowed)}. Received: {key}={value!r}"
        )
    if minimum is not None and value < minimum:
        raise ConfigError(
            f"`{key}` must be at least {minimum}. Received: {key}={value!r}"
        )
    if maximum is not None and value > maximum:
        raise ConfigError(
            f"`{key}` must be at most {maximum}. Received: {key}={value!r}"
        )
    return value
