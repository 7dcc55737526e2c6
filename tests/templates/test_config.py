"""config.toml: the schema, overrides, types and the resolved copy."""

import pytest

from rnnkit.templates import config as settings
from rnnkit.templates.errors import ConfigError
from rnnkit.templates.tasks import TEMPLATES

SCHEMA = TEMPLATES / "classification" / "config.toml"


def test_schema_defaults_load():
    config = settings.load(SCHEMA)
    assert config["cell"] == "gru" and config["units"] == 64
    assert config["tokenization"] == "word"


def test_file_and_overrides_win_in_that_order(tmp_path):
    (tmp_path / "config.toml").write_text('cell = "lstm"\nunits = 32\n')
    config = settings.load(SCHEMA, tmp_path / "config.toml", {"units": 16})
    assert (config["cell"], config["units"]) == ("lstm", 16)


def test_unknown_key_lists_the_valid_keys(tmp_path):
    (tmp_path / "config.toml").write_text("unitz = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key `unitz`.*Valid keys:.*units"):
        settings.load(SCHEMA, tmp_path / "config.toml")
    with pytest.raises(ConfigError, match=r"--set: unknown key `epoch`"):
        settings.load(SCHEMA, overrides={"epoch": 3})


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"`units` must be int.*units='many'"):
        settings.load(SCHEMA, overrides={"units": "many"})
    # An int where a float is expected is fine, and becomes a float.
    assert settings.load(SCHEMA, overrides={"dropout": 0})["dropout"] == 0.0


def test_broken_toml_names_the_file(tmp_path):
    (tmp_path / "config.toml").write_text("units = \n")
    with pytest.raises(ConfigError, match=r"config.toml: not valid TOML"):
        settings.load(SCHEMA, tmp_path / "config.toml")


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
