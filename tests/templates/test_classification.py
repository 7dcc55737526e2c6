"""The classification template: its data, model, search space and training."""

import logging

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from rnnkit.layers.recurrent import Recurrent
from rnnkit.templates import runs, tasks, workflow
from rnnkit.templates.errors import DataError, TrainingDiverged
from rnnkit.templates.pooling import MaxAndMeanPooling

TINY = {
    "epochs": 1,
    "units": 8,
    "embedding_dim": 8,
    "batch_size": 8,
    "sequence_length": 12,
}


@pytest.fixture
def task():
    return tasks.locate("classification")


def separable_csv(path, per_class=30):
    """Two topics with no word in common, plus shared filler words."""
    rng = np.random.default_rng(0)
    words = {
        "fruit": ["apple", "pear", "plum", "fig"],
        "car": ["wheel", "brake", "gear", "tyre"],
    }
    rows = ["text,label"]
    for label, vocabulary in words.items():
        for _ in range(per_class):
            text = " ".join(rng.choice(vocabulary + ["the", "a", "of"], size=6))
            rows.append(f"{text},{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_bundled_data_is_real_and_readable(task):
    config = task.config()
    data = task.module.read_data(config, task.folder)
    assert len(data.train) + len(data.validation) == 2802
    assert data.labels.labels == [
        "computers",
        "food",
        "law",
        "love",
        "politics",
        "science",
        "sports",
    ]
    assert set(data.validation.labels) == set(data.labels.labels)


def test_search_space_defaults_are_the_config(task):
    config = task.config()
    hp = keras_tuner.HyperParameters()
    chosen = task.module.hyperparameters(hp, config)
    for key in (
        "cell",
        "units",
        "layers",
        "bidirectional",
        "learning_rate",
        "embedding_dim",
    ):
        assert chosen[key] == config[key], key
    assert chosen["dropout"] == pytest.approx(config["dropout"])
    # reset_after belongs to the GRU only; unit_forget_bias to the LSTM only.
    assert chosen["reset_after"] is True and "unit_forget_bias" not in chosen
    hp = keras_tuner.HyperParameters()
    hp.Fixed("cell", "lstm")
    chosen = task.module.hyperparameters(hp, config)
    assert chosen["unit_forget_bias"] is True and "reset_after" not in chosen
    assert hp.is_active("unit_forget_bias") and not hp.is_active("reset_after")


@pytest.mark.parametrize(
    "cell,layers,bidirectional,pooling",
    [("lstm", 2, True, "max_and_mean"), ("rnn", 1, False, "last")],
)
def test_model_is_strings_to_probabilities(
    task, tmp_path, cell, layers, bidirectional, pooling
):
    config = task.config(
        {
            **TINY,
            "cell": cell,
            "layers": layers,
            "bidirectional": bidirectional,
            "pooling": pooling,
            "data": str(separable_csv(tmp_path / "d.csv")),
        }
    )
    data = task.module.read_data(config, task.folder)
    model = task.module.build_model(config, data)
    unwrapped = [getattr(layer, "forward_layer", layer) for layer in model.layers]
    recurrent = [layer for layer in unwrapped if isinstance(layer, Recurrent)]
    assert len(recurrent) == layers
    assert all(
        type(r).__name__ == {"lstm": "LSTM", "rnn": "SimpleRNN"}[cell]
        for r in recurrent
    )
    # Pooling every state needs them all; "last" reads x_T of the last layer.
    last_layer_sequences = pooling != "last"
    assert [r.return_sequences for r in recurrent] == [True] * (layers - 1) + [
        last_layer_sequences
    ]
    pools = [layer for layer in model.layers if isinstance(layer, MaxAndMeanPooling)]
    assert len(pools) == (pooling == "max_and_mean")
    assert (
        any(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers)
        is bidirectional
    )
    assert model.optimizer.clipnorm == config["clipnorm"]
    # Empty, blank and out-of-vocabulary texts still get finite answers.
    probabilities = model(tf.constant(["apple pear", "", "   ", "zzz unknown words"]))
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(np.sum(probabilities, axis=-1), 1.0, atol=1e-5)
    # The answer does not depend on what else is in the batch (its padding).
    alone = model(tf.constant(["apple pear"]))
    np.testing.assert_allclose(alone[0], probabilities[0], atol=1e-6)


def test_label_only_in_validation_is_refused(task, tmp_path):
    validation = tmp_path / "v.csv"
    validation.write_text("text,label\napple,fruit\nspaceship,rocket\n")
    config = task.config(
        {
            "data": str(separable_csv(tmp_path / "d.csv")),
            "validation_data": str(validation),
        }
    )
    with pytest.raises(
        DataError, match=r"v.csv: label\(s\) \['rocket'\].*\['car', 'fruit'\]"
    ):
        task.module.read_data(config, task.folder)


@pytest.mark.slow
def test_classification_really_learns(tmp_path):
    folder = tasks.copy_template("classification", tmp_path / "task")
    data = separable_csv(tmp_path / "d.csv", per_class=60)
    run = workflow.train(
        folder, data, {**TINY, "epochs": 12, "learning_rate": 0.01}, verbose=0
    )
    validation = runs.metrics(run)
    assert validation["accuracy"] >= 0.95 and validation["macro_f1"] >= 0.95


@pytest.mark.slow
def test_exploding_loss_stops_with_the_remedy(tmp_path):
    """The loss is NaN by construction (NaN output weights, put there by an
    edit to the copy's task.py), not by the numerical luck of a huge
    learning rate, which some CPUs have and others have not."""
    folder = tasks.copy_template("classification", tmp_path / "task")
    with open(folder / "task.py", "a") as file:
        file.write(
            "\n\n_build_model = build_model\n\n\n"
            "def build_model(config, data):\n"
            "    model = _build_model(config, data)\n"
            "    output = model.layers[-1]\n"
            '    output.set_weights([w * float("nan") for w in output.get_weights()])\n'
            "    return model\n"
        )
    data = separable_csv(tmp_path / "d.csv")
    overrides = {**TINY, "epochs": 3, "learning_rate": 0.5, "clipnorm": 0.0}
    with pytest.raises(
        TrainingDiverged,
        match=r"exploding gradients. Lower learning_rate \(now 0.5, e.g. --set "
        r"learning_rate=0.05\) or turn gradient clipping on",
    ):
        workflow.train(folder, data, overrides, verbose=0)


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_every_template_clips_gradients_by_norm_by_default(kind):
    from rnnkit.templates.training import optimizer

    config = tasks.locate(kind).config()
    assert config["clipnorm"] > 0
    assert optimizer(config).clipnorm == config["clipnorm"]
    assert optimizer(config.updated({"clipnorm": 0.0})).clipnorm is None


def test_long_validation_texts_are_warned_about_too(task, tmp_path, caplog):
    rows = [(" ".join(["word"] * 5), "a"), (" ".join(["word"] * 5), "b")] * 6
    rows += [(" ".join(["long"] * 40), "a")]  # in validation: its own file
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows[:-1]))
    held = tmp_path / "held.csv"
    held.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows[-3:]))
    config = task.config(
        {"data": str(train), "validation_data": str(held), "sequence_length": 12}
    )
    with caplog.at_level(logging.WARNING, logger="rnnkit"):
        task.module.read_data(config, task.folder)
    assert "held.csv: 1 of 3 texts are longer than sequence_length=12" in caplog.text
