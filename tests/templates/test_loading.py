"""Loading .keras files: corrupt and unsafe archives are refused clearly."""

import keras
import numpy as np
import pytest

from rnnkit import layers as rnnkit_layers
from rnnkit.templates.errors import CorruptError, DataError
from rnnkit.templates.workflow import load_keras_model


def test_rnnkit_model_reloads_identically(tmp_path):
    model = keras.Sequential([keras.Input((4, 3)), rnnkit_layers.GRU(5)])
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    np.testing.assert_array_equal(load_keras_model(tmp_path / "m.keras")(x), model(x))


def test_corrupt_archive(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(
        CorruptError, match=r"model.keras: corrupt or not a .keras archive"
    ):
        load_keras_model(path)


def test_archive_with_a_lambda_is_refused(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2)])
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(DataError, match=r"lambda.keras: refused to load:.*"):
        load_keras_model(tmp_path / "lambda.keras")
