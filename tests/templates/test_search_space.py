"""Every template's search space: explicit defaults equal to its config."""

import keras_tuner
import pytest

from rnnkit.templates import tasks

COMMON = ("cell", "units", "layers", "embedding_dim", "learning_rate")
EXTRA = {
    "classification": ("bidirectional",),
    "generation": (),
    "translation": ("bidirectional", "attention"),
}


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_defaults_are_the_config(kind):
    task = tasks.locate(kind)
    config = task.config()
    chosen = task.module.hyperparameters(keras_tuner.HyperParameters(), config)
    for key in COMMON + EXTRA[kind]:
        assert chosen[key] == config[key], key
    assert chosen["dropout"] == pytest.approx(config["dropout"])


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
@pytest.mark.parametrize(
    "cell,own,other",
    [
        ("gru", "reset_after", "unit_forget_bias"),
        ("lstm", "unit_forget_bias", "reset_after"),
        ("rnn", None, "reset_after"),
    ],
)
def test_cell_specific_hyperparameters_are_conditional(kind, cell, own, other):
    task = tasks.locate(kind)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("cell", cell)
    chosen = task.module.hyperparameters(hp, task.config())
    assert other not in chosen and not hp.is_active(other)
    if own:
        assert chosen[own] is True and hp.is_active(own)
