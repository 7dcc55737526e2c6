"""Token-by-token decoding inside the TensorFlow graph.

A recurrent decoder carries its state `x_t` from step to step, so each new
token costs one step of the cell: nothing is re-encoded. The loop is a
`tf.while_loop`, so a SavedModel runs it without Python.

Sampling follows the usual recipe: temperature, then top-k, then top-p
(nucleus), then a draw from the remaining distribution. Draws are stateless
(`tf.random.stateless_categorical` seeded with `(seed, step)`), so the same
seed gives the same text on every run and in every process.
"""

import tensorflow as tf

MAX_LENGTH_CAP = 2048  # longest continuation a request may ask for


def check_options(max_length, temperature, top_k, top_p):
    """Python-side checks with clear messages, before the graph runs."""
    if not 0 < max_length <= MAX_LENGTH_CAP:
        raise ValueError(
            f"max_length must be in 1..{MAX_LENGTH_CAP}. Received: {max_length}"
        )
    if not temperature > 0:
        raise ValueError(
            f"temperature must be > 0; for the most likely tokens use greedy "
            f"decoding (top_k=1, or --greedy). Received: {temperature}"
        )
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0: off). Received: {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1: off). Received: {top_p}")


def assert_options(max_length, temperature, top_k, top_p):
    """The same checks inside the graph, for callers of the SavedModel."""
    return [
        tf.debugging.assert_positive(max_length, message="max_length must be > 0"),
        tf.debugging.assert_less_equal(
            max_length,
            MAX_LENGTH_CAP,
            message=f"max_length must be <= {MAX_LENGTH_CAP}",
        ),
        tf.debugging.assert_positive(
            temperature, message="temperature must be > 0; use top_k=1 for greedy"
        ),
        tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0: off)"),
        tf.debugging.assert_positive(top_p, message="top_p must be in (0, 1]"),
        tf.debugging.assert_less_equal(top_p, 1.0, message="top_p must be in (0, 1]"),
    ]


def crop_top_k(logits, top_k):
    """Keeps the `top_k` largest logits of each row (0 keeps all)."""
    vocabulary = tf.shape(logits)[-1]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocabulary), vocabulary)
    kth_largest = tf.math.top_k(logits, k=k).values[:, -1:]
    return tf.where(logits < kth_largest, -float("inf"), logits)


def crop_top_p(logits, top_p):
    """Keeps the fewest most likely tokens whose probabilities reach `top_p`."""
    sorted_logits = tf.sort(logits, direction="DESCENDING")
    before = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)
    # A token stays if the more likely ones before it did not reach top_p;
    # the most likely token always stays.
    kept = tf.where(before < top_p, sorted_logits, float("inf"))
    threshold = tf.reduce_min(kept, axis=-1, keepdims=True)
    return tf.where(logits < threshold, -float("inf"), logits)


def next_tokens(logits, temperature, top_k, top_p, seed, step, greedy=False):
    """One token per row, `(batch,)` int32, from `(batch, vocabulary)` logits."""
    if greedy:
        return tf.argmax(logits, axis=-1, output_type=tf.int32)
    # scale by temperature
    logits = logits / temperature
    # crop to top-k (a sort: skipped when off)
    logits = tf.cond(
        tf.greater(top_k, 0), lambda: crop_top_k(logits, top_k), lambda: logits
    )
    # crop to top-p (another sort)
    logits = tf.cond(
        tf.less(top_p, 1.0), lambda: crop_top_p(logits, top_p), lambda: logits
    )
    # sample
    draw = tf.random.stateless_categorical(
        logits, 1, seed=tf.stack([seed, step]), dtype=tf.int32
    )
    return draw[:, 0]


def decode(step, logits, states, max_length, choose, end_id=-1, pad_id=0):
    """Runs `max_length` decoding steps; returns `(batch, max_length)` ids.

    Args:
        step: `step(tokens, states) -> (logits, states)`, one decoder step.
        logits: `(batch, vocabulary)`, the logits for the first new token.
        states: The decoder states after the prompt.
        max_length: Scalar int32, how many tokens to produce.
        choose: `choose(logits, step) -> tokens`, e.g. `next_tokens`.
        end_id: A token that ends a row (-1: none); it is kept, and the row's
            later positions hold `pad_id`.
    """
    batch = tf.shape(logits)[0]
    tokens = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None])
    finished = tf.zeros([batch], tf.bool)

    def body(t, logits, states, finished, tokens):
        # pluck the last logits and pick the next token
        chosen = choose(logits, t)
        # stop finished rows
        chosen = tf.where(finished, pad_id, chosen)
        finished = finished | tf.equal(chosen, end_id)
        tokens = tokens.write(t, chosen)
        logits, states = step(chosen, states)
        return t + 1, logits, states, finished, tokens

    *_, tokens = tf.while_loop(
        lambda t, _logits, _states, finished, _tokens: (
            (t < max_length) & ~tf.reduce_all(finished)
        ),
        body,
        (tf.constant(0), logits, states, finished, tokens),
        maximum_iterations=max_length,
    )
    produced = tf.transpose(tokens.stack())  # (batch, produced)
    return tf.pad(
        produced,
        [[0, 0], [0, max_length - tf.shape(produced)[1]]],
        constant_values=pad_id,
    )
