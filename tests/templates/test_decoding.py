"""Sampling and the in-graph decoding loop, on hand-made logits."""

import numpy as np
import pytest
import tensorflow as tf

from rnnkit.templates import decoding

LOGITS = tf.math.log(tf.constant([[0.5, 0.3, 0.15, 0.05]]))


def kept(logits):
    return np.isfinite(logits.numpy()[0]).tolist()


@pytest.mark.parametrize(
    "k,expected",
    [
        (0, [True] * 4),
        (2, [True, True, False, False]),
        (1, [True, False, False, False]),
        (9, [True] * 4),
    ],
)
def test_top_k(k, expected):
    assert kept(decoding.crop_top_k(LOGITS, tf.constant(k))) == expected


@pytest.mark.parametrize(
    "p,expected",
    [
        (1.0, [True] * 4),
        (0.7, [True, True, False, False]),
        (0.8, [True, True, False, False]),
        (0.81, [True, True, True, False]),
        (0.01, [True, False, False, False]),
    ],
)
def test_top_p_keeps_the_fewest_tokens_reaching_p(p, expected):
    assert kept(decoding.crop_top_p(LOGITS, tf.constant(p))) == expected


def sample(seed, top_k=0, batch=4, vocabulary=1000):
    logits = tf.zeros([batch, vocabulary])
    return decoding.next_tokens(
        logits, 1.0, top_k, 1.0, tf.constant(seed), tf.constant(0)
    )


def test_same_seed_same_tokens_other_seed_other_tokens():
    np.testing.assert_array_equal(sample(3), sample(3))
    assert not np.array_equal(sample(3), sample(4))


def test_a_rows_draw_does_not_depend_on_the_other_rows():
    logits = tf.random.stateless_normal([6, 300], seed=[5, 6])
    together = decoding.next_tokens(logits, 1.3, 0, 0.95, tf.constant(11), 4)
    for row in range(6):
        alone = decoding.next_tokens(logits[row : row + 1], 1.3, 0, 0.95, 11, 4)
        assert alone.numpy()[0] == together.numpy()[row]


def test_draws_follow_the_softmax():
    probabilities = np.array([0.5, 0.3, 0.15, 0.05])
    logits = tf.math.log(tf.constant([probabilities], tf.float32))
    draws = [
        decoding.sample(logits, tf.constant(seed), tf.constant(step)).numpy()[0]
        for seed in range(40)
        for step in range(100)
    ]
    frequencies = np.bincount(draws, minlength=4) / len(draws)
    # 4,000 draws: each frequency's standard error is below 0.008
    np.testing.assert_allclose(frequencies, probabilities, atol=0.03)


def test_top_k_one_is_greedy():
    logits = tf.random.stateless_normal([8, 50], seed=[1, 2])
    greedy = decoding.next_tokens(logits, 1.0, 0, 1.0, 0, 0, greedy=True)
    for seed in range(3):
        top1 = decoding.next_tokens(logits, 0.7, tf.constant(1), 1.0, seed, 5)
        np.testing.assert_array_equal(top1, greedy)


def counting_step(vocabulary=10):
    """A fake decoder that always predicts the previous token plus one."""

    def step(tokens, states):
        return tf.one_hot((tokens + 1) % vocabulary, vocabulary) * 10.0, states

    return step


def greedy(logits, t):
    return decoding.next_tokens(logits, 1.0, 0, 1.0, 0, t, greedy=True)


def test_decode_carries_on_from_the_first_logits():
    first = tf.one_hot([3, 7], 10) * 10.0
    tokens = decoding.decode(counting_step(), first, [], tf.constant(5), greedy)
    np.testing.assert_array_equal(tokens, [[3, 4, 5, 6, 7], [7, 8, 9, 0, 1]])


def test_end_token_stops_its_row_and_pads():
    first = tf.one_hot([3, 7], 10) * 10.0
    tokens = decoding.decode(
        counting_step(), first, [], tf.constant(6), greedy, end_id=5
    )
    np.testing.assert_array_equal(tokens, [[3, 4, 5, 0, 0, 0], [7, 8, 9, 0, 1, 2]])


@pytest.mark.parametrize(
    "options,message",
    [
        ((0, 1.0, 0, 1.0), r"max_length must be in 1..2048. Received: 0"),
        ((5000, 1.0, 0, 1.0), r"max_length must be in 1..2048"),
        ((5, 0.0, 0, 1.0), r"temperature must be > 0; .*greedy"),
        ((5, 1.0, -1, 1.0), r"top_k must be >= 0"),
        ((5, 1.0, 0, 0.0), r"top_p must be in \(0, 1\]"),
        ((5, 1.0, 0, 1.5), r"top_p must be in \(0, 1\].*Received: 1.5"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        decoding.check_options(*options)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tensors = [tf.constant(v) for v in options]
        decoding.assert_options(*tensors)
