"""Settings that cannot work (RELIABILITY.md 38; issue 13, items 4 and 7): a
table set to a scalar, a value of the wrong type, a value Keras cannot
build, a model too big for memory, a vocabulary smaller than its reserved
ids. Each is one line naming the setting, exit 2 (3 is allowed for memory),
and the task's files are left as they were."""

import resource

import pytest
from support import (
    GENERATION,
    GENERATION_TEXT,
    TINY,
    attempt,
    check_error,
    copy,
    examples,
    fails,
    only_changes,
    succeeds,
    write_csv,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Untrained tasks made by `rnnkit new`, and tiny data, to copy."""
    root = tmp_path_factory.mktemp("new_tasks")
    for kind in ("classification", "generation"):
        succeeds(["new", kind, root / kind], root)
    write_csv(root / "data.csv", examples())
    (root / "text.txt").write_text(GENERATION_TEXT)
    return root


@pytest.fixture
def task(fresh, tmp_path):
    copy(fresh / "data.csv", tmp_path / "data.csv")
    return copy(fresh / "classification", tmp_path / "task")


def train_args(task, *settings):
    return ["train", task, "--data", task.parent / "data.csv", *TINY, *settings]


@pytest.mark.parametrize(
    "assignment,key",
    [
        ("search=3", "search"),  # a table set to a scalar
        ("units=1.5", "units"),  # a float for an integer
        ('units="many"', "units"),
        ("units=0", "units"),  # caught by the range checks
        ("cell=transformer", "cell"),
        ("no_such_key=1", "no_such_key"),
        ("units", "units"),  # no value
    ],
    ids=[
        "table-as-scalar",
        "float-for-int",
        "string-for-int",
        "zero-units",
        "unknown-cell",
        "unknown-key",
        "no-value",
    ],
)
def test_a_setting_that_cannot_work(task, tmp_path, assignment, key):
    with only_changes(tmp_path):
        fails(train_args(task, "--set", assignment), "train", 2, key, cwd=tmp_path)


@pytest.mark.parametrize("command", ["train", "tune"])
def test_a_config_whose_search_table_is_a_scalar(task, tmp_path, command):
    config = task / "config.toml"
    text = config.read_text()
    config.write_text(text[: text.index("[search]")] + "search = 3\n")
    flags = ["--max-trials", "1"] if command == "tune" else []
    with only_changes(tmp_path):
        fails(
            [command, task, "--data", tmp_path / "data.csv", *flags],
            command,
            2,
            "search",
            cwd=tmp_path,
        )


def test_a_config_that_is_not_toml(task, tmp_path):
    config = task / "config.toml"
    config.write_text(config.read_text() + "\nunits = = 3\n")
    with only_changes(tmp_path):
        fails(train_args(task), "train", 2, config, "line", cwd=tmp_path)


@pytest.mark.parametrize("size", [1, 2])
def test_a_vocabulary_keras_cannot_build(task, tmp_path, size):
    # TextVectorization needs room for its padding and [UNK] ids.
    with only_changes(tmp_path, allowed=[task / "runs"]):
        fails(
            train_args(task, "--set", f"vocabulary_size={size}"),
            "train",
            2,
            "vocabulary_size",
            cwd=tmp_path,
        )
    assert not list((task / "runs").glob("*/metrics.json"))


def test_generation_vocabulary_below_its_reserved_ids(fresh, tmp_path):
    task = copy(fresh / "generation", tmp_path / "task")
    data = copy(fresh / "text.txt", tmp_path / "text.txt")
    with only_changes(tmp_path):
        fails(
            ["train", task, "--data", data, *GENERATION, "--set", "vocabulary_size=2"],
            "train",
            2,
            "vocabulary_size",
            cwd=tmp_path,
        )


def _at_most_8_gib():
    # The model needs far more; with this limit the allocation fails in the
    # process instead of waking the kernel's out-of-memory killer.
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


def test_a_model_too_big_for_memory(task, tmp_path):
    with only_changes(tmp_path, allowed=[task / "runs"]):
        result = attempt(
            train_args(task, "--set", "units=100000000"),
            tmp_path,
            preexec_fn=_at_most_8_gib,
        )
    assert result.status in (2, 3), result.describe()
    check_error(result, "train", result.status)
    assert "units" in result.error or "memory" in result.error, result.error
    assert not list((task / "runs").glob("*/metrics.json"))
