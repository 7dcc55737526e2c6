"""`rnnkit tune`: real Keras Tuner searches on tiny copies of each template."""

import csv
import json

import keras
import keras_tuner
import numpy as np
import pytest
import tiny_tasks

from rnnkit.cli_tuning import TUNER_NAMES
from rnnkit.templates import inference, runs, tasks, workflow
from rnnkit.templates.search_space import TUNERS
from rnnkit.tuning import oracles
from rnnkit.tuning import search as tuning
from rnnkit.tuning.hypermodel import TaskHyperModel


def leaderboard(folder):
    with open(folder / "tuning" / "leaderboard.csv", newline="") as file:
        return list(csv.DictReader(file))


def trial_values(folder):
    """Each trial's recorded hyperparameter values, by trial number."""
    found = {}
    for path in (folder / "tuning" / "search").glob("trial_*/trial.json"):
        trial = json.loads(path.read_text())
        found[int(trial["trial_id"])] = trial["hyperparameters"]["values"]
    return [found[k] for k in sorted(found)]


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_defaults_build_the_configs_model(tmp_path, kind):
    folder = tiny_tasks.make(kind, tmp_path)
    task = tasks.locate(folder)
    config = task.config()
    data = task.module.read_data(config, task.folder)
    hypermodel = TaskHyperModel(task, config, data)
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert isinstance(model, keras.Model)
    expected = task.module.build_model(config, data)
    assert model.count_params() == expected.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_a_search_of_three_trials_ends_in_a_run(tmp_path, kind):
    folder = tiny_tasks.make(kind, tmp_path)
    lines = []
    result = tuning.tune(folder, print_fn=lines.append)

    trials = [line for line in lines if line.startswith("trial ")]
    assert [t.split()[1] for t in trials] == ["1/3", "2/3", "3/3"]
    objective = tasks.locate(folder).module.MONITOR
    assert all(f"{objective} " in t and " best " in t and "left" in t for t in trials)
    board = leaderboard(folder)
    assert [row["status"] for row in board] == ["completed"] * 3
    assert all(
        int(row["params"]) > 0 and float(row["fit_seconds"]) > 0 for row in board
    )
    scores = [float(row[objective]) for row in board]
    assert scores == sorted(scores, reverse=objective == "val_accuracy")
    assert result.best_score == pytest.approx(scores[0])
    # The first trials are the config's own model, once with each cell type,
    # its own cell first.
    config = tasks.locate(folder).config()
    values = trial_values(folder)
    others = [c for c in ("rnn", "gru", "lstm") if c != config["cell"]]
    assert [v["cell"] for v in values] == [config["cell"], *others]
    for trial in values:
        assert (trial["units"], trial["layers"]) == (8, config["layers"]), trial
        assert trial["learning_rate"] == config["learning_rate"], trial
    # The leaderboard answers "LSTM or GRU?" in a table of its own.
    report = (folder / "tuning" / "leaderboard.md").read_text()
    by_cell = report.split("## Best of each cell type")[1]
    assert all(f"| {cell} |" in by_cell for cell in ("rnn", "gru", "lstm"))
    assert set(result.by_cell) == {"rnn", "gru", "lstm"}
    assert result.by_cell[board[0]["cell"]] == pytest.approx(scores[0])

    run = result.best_run
    assert run.parent == folder / "runs" and run in runs.completed(folder)
    for name in ("model.keras", "config.toml", "history.json", "metrics.json"):
        assert (run / name).is_file(), name
    history = json.loads((run / "history.json").read_text())
    best_epoch = (
        max(history[objective])
        if objective == "val_accuracy"
        else min(history[objective])
    )
    assert best_epoch == pytest.approx(result.best_score)
    assert (folder / "tuning" / "leaderboard.md").read_text().startswith("# Tuning")


@pytest.mark.slow
def test_the_best_classification_trial_exports_with_its_score(tmp_path):
    # No dropout: early stopping keeps the first epoch that classifies every
    # validation text, and these tiny models must be sure of it by then.
    folder = tiny_tasks.make(
        "classification",
        tmp_path,
        learning_rate=0.01,
        dropout=0.0,
        embedding_dropout=0.0,
        search={"epochs": 5, "dropout": [0.0, 0.0]},
    )
    result = tuning.tune(folder, print_fn=lambda line: None)
    assert result.best_score > 0.9  # the topics share no word
    metrics = runs.metrics(result.best_run)
    # The run holds the best epoch's weights: its accuracy is the trial's.
    assert metrics["accuracy"] == pytest.approx(result.best_score, abs=1e-6)
    path = workflow.export_run(folder, out=tmp_path / "saved_models")
    assert inference.info(path)["metrics"]["accuracy"] == metrics["accuracy"]
    texts = ["rocket orbit moon star comet launch", "oven flour sugar salt bake butter"]
    answers = inference.predict(path, texts)
    assert [a.split()[0] for a in answers] == ["space", "cooking"]
    # TensorBoard HParams logs, one folder per trial.
    events = list((folder / "tuning" / "logs").rglob("events.out.tfevents.*"))
    assert any(b"hparams" in path.read_bytes() for path in events)


@pytest.mark.slow
def test_cell_specific_hyperparameters_appear_only_with_their_cell(tmp_path):
    folder = tiny_tasks.make(
        "classification",
        tmp_path,
        search={**tiny_tasks.fixed_search(), "tuner": "grid", "max_trials": 5},
        **tiny_tasks.FIXED_CONFIG,
    )
    tuning.tune(folder, print_fn=lambda line: None)
    values = trial_values(folder)
    assert {v["cell"] for v in values} == {"rnn", "gru", "lstm"}
    for trial in values:
        assert ("reset_after" in trial) == (trial["cell"] == "gru"), trial
        assert ("unit_forget_bias" in trial) == (trial["cell"] == "lstm"), trial
    by_cell = {row["cell"]: row for row in leaderboard(folder)}
    assert by_cell["rnn"]["reset_after"] == by_cell["rnn"]["unit_forget_bias"] == ""


def test_the_cells_restrict_the_search_space(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path, search={"cells": ["lstm"]})
    task = tasks.locate(folder)
    hp = keras_tuner.HyperParameters()
    chosen = task.module.hyperparameters(hp, task.config())
    assert chosen["cell"] == "lstm" and "unit_forget_bias" in chosen


def test_a_default_outside_its_range_is_refused_before_any_trial(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path)
    with pytest.raises(tuning.RnnkitError, match=r"`units = 64` lies outside"):
        tuning.tune(folder, {"units": 64}, print_fn=lambda line: None)
    assert not (folder / "tuning").exists()


def test_hypermodel_seeds_each_execution_differently(tmp_path):
    folder = tiny_tasks.make("classification", tmp_path)
    task = tasks.locate(folder)
    config = task.config()
    hypermodel = TaskHyperModel(task, config, task.module.read_data(config, folder))
    hp = keras_tuner.HyperParameters()
    first = hypermodel.build(hp).get_weights()
    again = hypermodel.build(hp).get_weights()
    hypermodel.execution = 1  # the trial's second training
    second = hypermodel.build(hp).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["bayesian", "local", "hyperband"])
def test_the_other_tuners_search_too(tmp_path, tuner):
    # The local search's fourth trial is its first neighbour of the best.
    trials = {"max_trials": 4} if tuner == "local" else {}
    folder = tiny_tasks.make(
        "classification", tmp_path, search={"tuner": tuner, "epochs": 2, **trials}
    )
    lines = []
    result = tuning.tune(folder, print_fn=lines.append)
    board = leaderboard(folder)
    assert board and {row["status"] for row in board} == {"completed"}
    assert result.trials == len(board) == len(lines) - 1
    if tuner == "hyperband":  # 2 epochs, factor 3: one bracket of 2 trials
        assert [line.split()[1] for line in lines[1:]] == ["1/2", "2/2"]
    assert (result.best_run / "model.keras").is_file()


@pytest.mark.slow
def test_executions_of_a_trial_train_with_different_seeds(tmp_path):
    folder = tiny_tasks.make(
        "classification", tmp_path, search={"max_trials": 1, "executions_per_trial": 2}
    )
    result = tuning.tune(folder, print_fn=lambda line: None)
    record = json.loads(
        (folder / "tuning" / "search" / "trial_0" / "rnnkit_trial.json").read_text()
    )
    first, second = record["histories"]
    assert first["loss"] != second["loss"]
    # Keras Tuner scores the trial by the mean of the executions' best epochs.
    expected = (max(first["val_accuracy"]) + max(second["val_accuracy"])) / 2
    assert result.best_score == pytest.approx(expected)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_trials(tmp_path):
    results = []
    for name in ("a", "b"):
        folder = tiny_tasks.make("classification", tmp_path / name, seed=3)
        tuning.tune(folder, print_fn=lambda line: None)
        results.append(
            (trial_values(folder), [row["val_accuracy"] for row in leaderboard(folder)])
        )
    assert results[0] == results[1]
    # ...and they are three different trials, so the equality says something.
    assert len({json.dumps(v, sort_keys=True) for v in results[0][0]}) == 3


def test_a_space_without_a_cell_type_starts_with_its_defaults_once(tmp_path):
    """A user's space need not search the cell: the first trial is still
    the config's own model, and the second is the tuner's own draw."""
    space = keras_tuner.HyperParameters()
    space.Int("units", 4, 64, default=16)
    space.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=0.005)
    oracle = oracles.RandomOracle(
        objective=keras_tuner.Objective("val_loss", "min"), max_trials=4, seed=3
    )
    oracle._set_project_dir(str(tmp_path), "search")  # Keras Tuner's own setup
    oracle.update_space(space)
    first = oracle.create_trial("tuner0")
    second = oracle.create_trial("tuner1")
    assert first.hyperparameters.values == {"units": 16, "learning_rate": 0.005}
    assert second.hyperparameters.values != first.hyperparameters.values
    assert set(second.hyperparameters.values) == {"units", "learning_rate"}


def test_the_command_line_offers_exactly_the_search_spaces_tuners():
    assert TUNER_NAMES == TUNERS
