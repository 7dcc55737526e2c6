"""The "local" oracle: the defaults with each cell, then neighbours of the
best trial so far. Driven directly, as Keras Tuner's tuner drives it."""

import keras_tuner

from rnnkit.templates import search_space
from rnnkit.tuning import oracles, tuners

SEARCH = {
    "cells": ["rnn", "gru", "lstm"],
    "units": [16, 128],
    "layers": [1, 2],
    "embedding_dim": [16, 64],
    "dropout": [0.0, 0.5],
    "learning_rate": [0.001, 0.01],
}
CONFIG = {
    "cell": "gru",
    "units": 32,
    "layers": 1,
    "embedding_dim": 32,
    "dropout": 0.2,
    "learning_rate": 0.003,
    "search": SEARCH,
}


def make_oracle(folder, seed=1, max_trials=30):
    space = keras_tuner.HyperParameters()
    for cell in SEARCH["cells"]:  # as building a model with each cell would
        space.values["cell"] = cell
        search_space.recurrent(space, CONFIG)
    oracle = oracles.LocalOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"),
        max_trials=max_trials,
        seed=seed,
    )
    oracle._set_project_dir(str(folder), "search")  # Keras Tuner's own setup
    oracle.update_space(space)
    return oracle


def run_trial(oracle, score):
    """One trial created, scored and ended; its values."""
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"val_accuracy": score})
    trial.status = keras_tuner.engine.trial.TrialStatus.COMPLETED
    oracle.end_trial(trial)
    return trial.hyperparameters.values


def changed(centre, values):
    """The names whose values differ. A cell's own option that comes or goes
    with a change of cell is not a change of its own."""
    return {k for k in set(centre) & set(values) if centre[k] != values[k]}


def test_every_trial_after_the_defaults_changes_one_or_two_settings_of_the_best(
    tmp_path,
):
    oracle = make_oracle(tmp_path)
    defaults = [run_trial(oracle, score) for score in (0.5, 0.7, 0.6)]
    assert [d["cell"] for d in defaults] == ["gru", "rnn", "lstm"]
    centre = defaults[1]  # the best: the defaults with a plain RNN
    counts = []
    for _ in range(12):
        values = run_trial(oracle, 0.1)  # worse: the centre stays
        counts.append(len(changed(centre, values)))
    assert set(counts) == {1, 2}


def test_a_move_is_one_step_on_each_hyperparameters_scale(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=40)
    defaults = [run_trial(oracle, score) for score in (0.9, 0.2, 0.1)]
    centre = defaults[0]  # gru, 32 units, 32 embedding, 1 layer, 0.2, 0.003
    steps = {
        "units": {16, 64},  # doubled or halved (log scale)
        "embedding_dim": {16, 64},
        "layers": {2},  # 0 lies outside [1, 2]
        "dropout": {0.1, 0.3},
        "learning_rate": {0.0015, 0.006},
        "cell": {"rnn", "lstm"},
        "reset_after": {False},
    }
    seen = {name: set() for name in steps}
    for _ in range(37):
        values = run_trial(oracle, 0.1)
        for name in changed(centre, values):
            seen[name].add(values[name])
    for name, allowed in steps.items():
        assert seen[name] and seen[name] <= allowed, name


def test_a_better_neighbour_becomes_the_centre(tmp_path):
    oracle = make_oracle(tmp_path)
    for score in (0.5, 0.4, 0.3):
        run_trial(oracle, score)
    better = run_trial(oracle, 0.9)
    for _ in range(8):
        values = run_trial(oracle, 0.2)
        assert 1 <= len(changed(better, values)) <= 2


def test_a_new_cell_starts_with_its_own_options_at_their_defaults(tmp_path):
    oracle = make_oracle(tmp_path, max_trials=60)
    defaults = [run_trial(oracle, score) for score in (0.9, 0.2, 0.1)]
    assert defaults[0]["reset_after"] is True  # the GRU's
    switched = []
    while len(switched) < 2 and len(oracle.trials) < 60:
        values = run_trial(oracle, 0.1)
        if values["cell"] != "gru":
            switched.append(values)
    assert switched, "no draw changed the cell"
    for values in switched:
        assert "reset_after" not in values
        if values["cell"] == "lstm":
            assert values["unit_forget_bias"] is True


def test_the_same_seed_draws_the_same_trials_and_another_seed_others(tmp_path):
    def trials(name, seed):
        oracle = make_oracle(tmp_path / name, seed=seed)
        return [run_trial(oracle, score) for score in (0.5, 0.6, 0.4, 0.3, 0.2, 0.8)]

    first, again, other = trials("a", 1), trials("b", 1), trials("c", 2)
    assert first == again
    assert first[:3] == other[:3]  # the defaults
    assert first[3:] != other[3:]


def test_a_reloaded_search_draws_what_it_would_have(tmp_path):
    whole = make_oracle(tmp_path / "whole")
    expected = [run_trial(whole, s) for s in (0.5, 0.6, 0.4, 0.3, 0.2)]
    first = make_oracle(tmp_path / "resumed")
    drawn = [run_trial(first, s) for s in (0.5, 0.6, 0.4)]
    resumed = make_oracle(tmp_path / "resumed")
    resumed.reload()
    tuners.settle_ended_trials(resumed)  # as `rnnkit tune` reloads
    drawn += [run_trial(resumed, s) for s in (0.3, 0.2)]
    assert drawn == expected


def test_when_the_neighbours_are_used_up_the_search_goes_on_elsewhere(tmp_path):
    """Cells {gru, lstm} by units 1..5: the best trial (gru, 3) has four
    untried neighbours, and the space holds ten settings in all."""
    space = keras_tuner.HyperParameters()
    space.Choice("cell", ["gru", "lstm"], default="gru")
    space.Int("units", 1, 5, default=3)
    oracle = oracles.LocalOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=20, seed=1
    )
    oracle._set_project_dir(str(tmp_path), "search")
    oracle.update_space(space)
    tried = [run_trial(oracle, score) for score in (0.9, 0.1)]
    tried += [run_trial(oracle, 0.1) for _ in range(6)]
    settings = {(t["cell"], t["units"]) for t in tried}
    assert len(settings) == 8  # all different, and none stopped the search
    neighbours = {("gru", 2), ("gru", 4), ("lstm", 2), ("lstm", 4)}
    assert neighbours <= settings


def test_the_learning_rate_moves_first_from_every_new_centre(tmp_path):
    oracle = make_oracle(tmp_path)
    defaults = [run_trial(oracle, score) for score in (0.5, 0.4, 0.3)]
    up = run_trial(oracle, 0.6)  # better: the next centre
    assert changed(defaults[0], up) == {"learning_rate"}
    assert up["learning_rate"] == 0.006
    # 0.012 lies outside [0.001, 0.01] and 0.003 is the first trial's: the
    # other settings move now.
    after = run_trial(oracle, 0.1)
    assert "learning_rate" not in changed(up, after)


def test_the_learning_rate_goes_up_then_down(tmp_path):
    oracle = make_oracle(tmp_path)
    defaults = [run_trial(oracle, score) for score in (0.5, 0.4, 0.3)]
    up, down = run_trial(oracle, 0.1), run_trial(oracle, 0.1)
    assert changed(defaults[0], up) == changed(defaults[0], down) == {"learning_rate"}
    assert (up["learning_rate"], down["learning_rate"]) == (0.006, 0.0015)
    assert changed(defaults[0], run_trial(oracle, 0.1)) != {"learning_rate"}
