"""The templates train on their datasets with tf.data's autotuning off
(`rnnkit.templates.training.without_autotuning`): on 2 cores it slowed
about half of the epochs by taking a core away from the training step."""

import keras
import numpy as np
import tensorflow as tf

from rnnkit.templates import training

CONFIG = {"epochs": 2, "patience": 5, "learning_rate": 0.01, "clipnorm": 1.0}


def test_without_autotuning_keeps_the_elements_and_the_other_options():
    dataset = tf.data.Dataset.range(10).map(lambda x: x * 2).batch(3)
    options = tf.data.Options()
    options.deterministic = False
    dataset = dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
    assert dataset.options().autotune.enabled is not False
    steady = training.without_autotuning(dataset)
    assert steady.options().autotune.enabled is False
    assert steady.options().deterministic is False
    assert [list(b.numpy()) for b in steady] == [list(b.numpy()) for b in dataset]


class RecordingModel(keras.Sequential):
    """A real model that notes whether `fit` got datasets autotuned."""

    seen = []

    def fit(self, x=None, *args, validation_data=None, **kwargs):
        for dataset in (x, validation_data):
            self.seen.append(dataset.options().autotune.enabled)
        return super().fit(x, *args, validation_data=validation_data, **kwargs)


def test_the_templates_fit_turns_autotuning_off(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    validation = tf.data.Dataset.from_tensor_slices((x[:8], y[:8])).batch(8)
    RecordingModel.seen = []
    model = RecordingModel([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=training.optimizer(CONFIG), loss="mse")
    history = training.fit(
        model, train, validation, CONFIG, tmp_path, "val_loss", "min", verbose=0
    )
    assert RecordingModel.seen == [False, False]
    assert len(history["loss"]) == 2  # it trained, both epochs
