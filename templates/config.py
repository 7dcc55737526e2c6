"""Task settings: `config.toml`, overrides, validation and the resolved copy.

The built-in template's `config.toml` is the schema: its keys are the valid
keys and its values give their types and defaults. A copied task folder's
`config.toml` and `--set key=value` override them; anything else is an error
that lists the valid keys.
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


def merge(defaults, overrides, source):
    """`defaults` updated with `overrides`, whose keys and types must exist."""
    merged = dict(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            valid = ", ".join(sorted(defaults))
            raise ConfigError(f"{source}: unknown key `{key}`. Valid keys: {valid}")
        if isinstance(defaults[key], dict):
            value = merge(defaults[key], value, f"{source} [{key}]")
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


def load(schema_path, config_path=None, overrides=None):
    """The resolved config: schema defaults, then the file, then overrides."""
    config = read_toml(schema_path)
    if config_path is not None and pathlib.Path(config_path) != pathlib.Path(
        schema_path
    ):
        config = merge(config, read_toml(config_path), str(config_path))
    return merge(config, overrides or {}, "--set")


def _toml_value(value):
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
    """TOML text for a config of scalars, lists and one level of tables."""
    lines = [
        f"{k} = {_toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)
    ]
    for name, table in config.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
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
