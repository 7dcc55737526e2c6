"""`MaxAndMeanPooling`: max and mean over the real time steps only."""

import keras
import numpy as np
import pytest

from rnnkit.templates.pooling import MaxAndMeanPooling


def expected(values, lengths):
    rows = []
    for row, length in zip(values, lengths):
        real = row[:length]
        if length == 0:
            rows.append(np.zeros(2 * row.shape[-1]))
        else:
            rows.append(np.concatenate([real.max(axis=0), real.mean(axis=0)]))
    return np.stack(rows)


def test_padding_never_counts():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4, 6, 3)).astype("float32")
    lengths = [6, 3, 1, 0]
    # Padding holds large values: counted, they would win every max and
    # move every mean.
    for row, length in zip(values, lengths):
        row[length:] = 100.0
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    pooled = MaxAndMeanPooling()(values, mask=mask)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pooled), expected(values, lengths), rtol=1e-6
    )


def test_no_mask_pools_every_step():
    values = np.arange(24, dtype="float32").reshape(2, 4, 3)
    pooled = keras.ops.convert_to_numpy(MaxAndMeanPooling()(values))
    np.testing.assert_allclose(pooled, expected(values, [4, 4]))


def test_the_mask_flows_from_an_embedding_and_the_model_reloads(tmp_path):
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    outputs = MaxAndMeanPooling()(x)
    model = keras.Model(ids, outputs)
    batch = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    vectors = keras.ops.convert_to_numpy(model.layers[1](batch))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(batch)), expected(vectors, [2, 1]), rtol=1e-6
    )
    model.save(tmp_path / "pooled.keras")
    reloaded = keras.saving.load_model(tmp_path / "pooled.keras")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(reloaded(batch)),
        keras.ops.convert_to_numpy(model(batch)),
    )


@pytest.mark.parametrize("time", [1, 7])
def test_gradients_reach_only_real_steps(time):
    import tensorflow as tf

    values = tf.Variable(
        np.random.default_rng(1).normal(size=(2, time, 3)), dtype="float32"
    )
    mask = np.zeros((2, time), bool)
    mask[0, :] = True  # the second row is all padding
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(MaxAndMeanPooling()(values, mask=mask))
    gradient = tape.gradient(total, values).numpy()
    assert np.all(gradient[1] == 0)
    assert np.all(gradient[0].sum(axis=0) > 0)
