"""`streaming = true` through the CLI: bad data is refused before training,
naming the file and line as in memory, and a streamed run exports and
answers like any other."""

import json

import pytest
from cli_support import (
    TINY,
    examples,
    one_error_line,
    run,
    train_and_export,
    write_csv,
)
from test_train_inputs import (
    _empty,
    _missing_column,
    _not_utf8,
    _one_subfolder,
    _ragged_row,
    refused_before_training,
)

STREAMING = ["--set", "streaming=true"]


@pytest.mark.parametrize(
    "bad",
    [_empty, _missing_column, _not_utf8, _ragged_row, _one_subfolder],
    ids=lambda bad: bad.__name__.strip("_").replace("_", "-"),
)
def test_streaming_refuses_bad_data_before_training(tmp_path, bad):
    refused_before_training(tmp_path, bad, STREAMING)


def test_streaming_a_stateful_generator_is_a_config_error(tmp_path):
    task = tmp_path / "task"
    assert run(["new", "generation", str(task)]).returncode == 0
    result = run(["train", str(task), "--set", "stateful=true", *STREAMING])
    line = one_error_line(result, "train")
    assert "config.toml: stateful training" in line and "streaming = false" in line


@pytest.mark.slow
def test_a_streamed_classifier_exports_and_predicts(tmp_path):
    data = write_csv(tmp_path / "data.csv", examples(per_label=30))
    flags = [*TINY, "--epochs", "2", *STREAMING]
    path = train_and_export(tmp_path, "classification", data, flags)
    metrics = json.loads(
        next((tmp_path / "task" / "runs").glob("*/metrics.json")).read_text()
    )
    assert metrics["train_examples"] + metrics["examples"] == 90
    result = run(["predict", "--json", path, "rocket moon orbit", "flour oven"])
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [sorted(a) for a in answers] == [["label", "probabilities", "text"]] * 2


@pytest.mark.slow
def test_a_streamed_generator_exports_and_generates(tmp_path):
    (tmp_path / "text.txt").write_text("abc abd abe. " * 80)
    flags = ["--epochs", "1", "--set", "units=8", "--set", "sequence_length=16"]
    path = train_and_export(
        tmp_path, "generation", tmp_path / "text.txt", [*flags, *STREAMING]
    )
    result = run(["generate", "--json", "--max-length", "5", path, "abc"])
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout.splitlines()[0])["text"]) >= 1
