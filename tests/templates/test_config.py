"""config.toml: a task's own schema, overrides, types and the resolved copy."""

import pytest

from rnnkit.templates import config as settings
from rnnkit.templates.errors import ConfigError
from rnnkit.templates.tasks import TEMPLATES

SCHEMA = TEMPLATES / "classification" / "config.toml"


def test_schema_defaults_load():
    config = settings.load(SCHEMA)
    assert config["cell"] == "gru" and config["units"] == 64
    assert config["tokenization"] == "word"


def test_overrides_win_over_the_file(tmp_path):
    (tmp_path / "config.toml").write_text('cell = "lstm"\nunits = 32\n')
    config = settings.load(tmp_path / "config.toml", {"units": 16})
    assert (config["cell"], config["units"]) == ("lstm", 16)


def test_a_copy_s_config_is_its_own_schema(tmp_path):
    """A key the copy adds is a setting: typed by its value in the copy."""
    path = tmp_path / "config.toml"
    # At the top: below [search], a key would belong to that table.
    path.write_text("recurrent_dropout = 0.1\n" + SCHEMA.read_text())
    assert settings.load(path)["recurrent_dropout"] == 0.1
    assert settings.load(path, {"recurrent_dropout": 0})["recurrent_dropout"] == 0.0
    with pytest.raises(ConfigError, match=r"`recurrent_dropout` must be float"):
        settings.load(path, {"recurrent_dropout": "high"})
    # The built-in schema does not know it.
    with pytest.raises(ConfigError, match=r"--set: unknown key `recurrent_dropout`"):
        settings.load(SCHEMA, {"recurrent_dropout": 0.1})


def test_unknown_key_lists_the_valid_keys(tmp_path):
    (tmp_path / "config.toml").write_text("units = 3\n[search]\nunits = [1, 4]\n")
    with pytest.raises(
        ConfigError,
        match=r"--set: unknown key `epoch`; .*config.toml has no such setting "
        r"\(add it there to make one\). Valid keys: search, units",
    ):
        settings.load(tmp_path / "config.toml", overrides={"epoch": 3})
    with pytest.raises(ConfigError, match=r"--set \[search\]: unknown key `unit`"):
        settings.load(tmp_path / "config.toml", {"search": {"unit": [1, 2]}})
    with pytest.raises(ConfigError, match=r"`search` is a table in"):
        settings.load(tmp_path / "config.toml", {"search": 3})


def test_a_key_the_code_needs_but_the_config_lacks_names_both(tmp_path):
    (tmp_path / "config.toml").write_text("units = 3\n")
    config = settings.load(tmp_path / "config.toml", code=tmp_path / "task.py")
    with pytest.raises(
        ConfigError,
        match=r"task.py uses the setting `layers`, but .*config.toml does not set "
        r"it; add `layers = ...`",
    ):
        config["layers"]
    # `updated` keeps the check (the tuner and compare change settings).
    with pytest.raises(ConfigError, match=r"uses the setting `layers`"):
        config.updated({"units": 4})["layers"]


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"`units` must be int.*units='many'"):
        settings.load(SCHEMA, overrides={"units": "many"})
    # An int where a float is expected is fine, and becomes a float.
    assert settings.load(SCHEMA, overrides={"dropout": 0})["dropout"] == 0.0


def test_broken_toml_names_the_file(tmp_path):
    (tmp_path / "config.toml").write_text("units = \n")
    with pytest.raises(ConfigError, match=r"config.toml: not valid TOML"):
        settings.load(tmp_path / "config.toml")


@pytest.mark.parametrize(
    "assignment,expected",
    [
        ("units=64", {"units": 64}),
        ("dropout=0.25", {"dropout": 0.25}),
        ("bidirectional=false", {"bidirectional": False}),
        ("cell=lstm", {"cell": "lstm"}),
        ('data="a b.csv"', {"data": "a b.csv"}),
        ("data=path/with=sign.csv", {"data": "path/with=sign.csv"}),
    ],
)
def test_set_assignments_are_toml_literals(assignment, expected):
    assert settings.parse_assignments([assignment]) == expected


def test_set_without_equals_is_an_error():
    with pytest.raises(
        ConfigError, match=r"--set expects key=value. Received: 'units'"
    ):
        settings.parse_assignments(["units"])


def test_written_config_reads_back_identically(tmp_path):
    config = settings.load(SCHEMA, overrides={"data": 'quote " and \\ slash é'})
    config["search"] = {"units": [16, 32], "cells": ["gru", "lstm"]}
    config["a copy's table"] = {"nested": {"deep": [1.5, True]}, "é": "x"}
    settings.write(config, tmp_path / "resolved.toml")
    assert settings.read_toml(tmp_path / "resolved.toml") == config


@pytest.mark.parametrize(
    "key,value,pattern",
    [
        ("cell", "transformer", r"`cell` must be one of \('rnn', 'gru', 'lstm'\)"),
        ("tokenization", "bpe", r"`tokenization` must be one of"),
        ("units", 0, r"`units` must be at least 1"),
        ("validation_split", 0.9, r"`validation_split` must be at most 0.5"),
    ],
)
def test_task_checks_ranges(key, value, pattern):
    from rnnkit.templates import tasks

    task = tasks.locate("classification")
    with pytest.raises(ConfigError, match=pattern):
        task.config({key: value})
