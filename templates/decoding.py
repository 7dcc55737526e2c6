"""Token-by-token decoding inside the TensorFlow graph.

A recurrent decoder carries its state `x_t` from step to step, so each new
token costs one step of the cell: nothing is re-encoded. The loop is a
`tf.while_loop`, so a SavedModel runs it without Python.

Sampling follows the usual recipe: temperature, then top-k, then top-p
(nucleus), then a draw from the remaining distribution. Draws are stateless,
seeded with `(seed, step)`, so the same seed gives the same text on every run
and in every process. A draw is the Gumbel-max trick with one noise vector
per step shared by every row, so a row's text depends on its own prompt and
the seed only, never on the other rows of its batch: a served request gets
the same answer whatever `rnnkit serve` batched it with.
"""

import tensorflow as tf

MAX_LENGTH_CAP = 2048  # longest continuation a request may ask for
MAX_BEAM_WIDTH = 16  # widest beam search a request may ask for
TINY = 1e-30  # the smallest uniform draw: its Gumbel noise stays finite


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


def assert_beam(beam_width, max_length):
    """Beam search's option checks inside the graph."""
    return [
        tf.debugging.assert_greater_equal(
            beam_width, 1, message="beam_width must be >= 1"
        ),
        tf.debugging.assert_less_equal(
            beam_width,
            MAX_BEAM_WIDTH,
            message=f"beam_width must be <= {MAX_BEAM_WIDTH}",
        ),
        tf.debugging.assert_greater_equal(
            max_length, 1, message="max_length must be >= 1"
        ),
        tf.debugging.assert_less_equal(
            max_length,
            MAX_LENGTH_CAP,
            message=f"max_length must be <= {MAX_LENGTH_CAP}",
        ),
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
    return sample(logits, seed, step)


def sample(logits, seed, step):
    """A draw from `softmax(logits)` for each row, by the Gumbel-max trick:
    `argmax(logits + g)` with `g = -log(-log(u))`, `u` uniform. The noise is
    one `(vocabulary,)` vector for `(seed, step)`, shared by every row, so a
    row's draw does not depend on its place in the batch."""
    uniform = tf.random.stateless_uniform(
        tf.shape(logits)[-1:],
        seed=tf.stack([seed, step]),
        minval=TINY,  # log(0) would make the noise infinite
        maxval=1.0,
        dtype=logits.dtype,
    )
    gumbel = -tf.math.log(-tf.math.log(uniform))
    return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)


def decode(step, logits, states, max_length, choose, end_id=-1, pad_id=0, extra=None):
    """Runs `max_length` decoding steps; returns `(batch, max_length)` ids.

    Args:
        step: `step(tokens, states) -> (logits, states)`, one decoder step.
        logits: `(batch, vocabulary)`, the logits for the first new token.
        states: The decoder states after the prompt.
        max_length: Scalar int32, how many tokens to produce.
        choose: `choose(logits, step) -> tokens`, e.g. `next_tokens`.
        end_id: A token that ends a row (-1: none); it is kept, and the row's
            later positions hold `pad_id`.
        extra: The dtype of a third output of `step` to collect at every
            step (e.g. attention weights); `decode` then returns
            `(ids, extras)`, the extras stacked on axis 1.
    """
    batch = tf.shape(logits)[0]
    tokens = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None])
    extras = () if extra is None else tf.TensorArray(extra, size=0, dynamic_size=True)
    finished = tf.zeros([batch], tf.bool)

    def body(t, logits, states, finished, tokens, extras):
        # pluck the last logits and pick the next token
        chosen = choose(logits, t)
        # stop finished rows
        chosen = tf.where(finished, pad_id, chosen)
        finished = finished | tf.equal(chosen, end_id)
        tokens = tokens.write(t, chosen)
        if extra is None:
            logits, states = step(chosen, states)
        else:
            logits, states, extra_t = step(chosen, states)
            extras = extras.write(t, extra_t)
        return t + 1, logits, states, finished, tokens, extras

    # (At least one step, which an empty batch would otherwise not take, so
    # that there is something to stack.)
    *_, tokens, extras = tf.while_loop(
        lambda t, *rest: (t < max_length) & (~tf.reduce_all(rest[2]) | (t == 0)),
        body,
        (tf.constant(0), logits, states, finished, tokens, extras),
        maximum_iterations=max_length,
    )
    ids = pad_to(tf.transpose(tokens.stack()), max_length, pad_id)
    if extra is None:
        return ids
    stacked = extras.stack()  # (steps, batch, ...)
    order = tf.concat([[1, 0], tf.range(2, tf.rank(stacked))], 0)
    return ids, tf.transpose(stacked, order)


def pad_to(ids, length, pad_id=0):
    """Right-pads `(batch, n)` ids to `(batch, length)`."""
    return tf.pad(ids, [[0, 0], [0, length - tf.shape(ids)[1]]], constant_values=pad_id)


def length_penalty(lengths, alpha):
    """GNMT's ((5 + length) / 6) ** alpha: dividing summed log-probabilities
    by it keeps beam search from simply favouring short hypotheses."""
    return ((5.0 + tf.cast(lengths, tf.float32)) / 6.0) ** alpha


def beam_search(
    step, logits, states, max_length, beam_width, alpha, end_id, banned=(), pad_id=0
):
    """The best of `beam_width` beams per row, `(batch, max_length)` ids, by
    length-normalised log-probability; in the graph.

    `states` is a nested structure of `(batch, ...)` tensors; `step` works on
    `batch * beam_width` rows. A finished beam keeps its score and grows only
    padding. `banned` ids are never produced.
    """
    batch, vocabulary = tf.shape(logits)[0], tf.shape(logits)[1]
    width = beam_width
    never = tf.reduce_sum(tf.one_hot([pad_id, *banned], vocabulary), 0) > 0
    only_pad = tf.where(tf.range(vocabulary) == pad_id, 0.0, -float("inf"))

    def log_probs(logits, finished):
        scores = tf.where(never, -float("inf"), tf.nn.log_softmax(logits))
        return tf.where(finished[..., None], only_pad, scores)

    def tile(x):
        return tf.repeat(x, width, axis=0)  # (batch * width, ...)

    states = tf.nest.map_structure(tile, states)
    finished = tf.zeros([batch, width], tf.bool)
    # Only the first beam is live at first, so the beams do not start equal.
    scores = tf.concat([tf.zeros([batch, 1]), tf.fill([batch, width - 1], -1e9)], 1)
    lengths = tf.zeros([batch, width], tf.int32)
    sequences = tf.zeros([batch, width, max_length], tf.int32)
    # Shapes are spelt out, not -1: an empty batch cannot infer them.
    step_scores = log_probs(
        tf.reshape(tile(logits), [batch, width, vocabulary]), finished
    )

    def body(t, step_scores, states, scores, finished, lengths, sequences):
        # extend every beam by every token; keep the best `width` of each row
        candidates = tf.reshape(
            scores[..., None] + step_scores, [batch, width * vocabulary]
        )
        scores, flat = tf.math.top_k(candidates, k=width)
        parent, token = flat // vocabulary, flat % vocabulary

        def follow(x):
            return tf.gather(x, parent, batch_dims=1)

        lengths = follow(lengths) + tf.cast(~follow(finished), tf.int32)
        finished = follow(finished) | tf.equal(token, end_id)
        at_t = tf.equal(tf.range(max_length), t)
        sequences = tf.where(at_t, token[..., None], follow(sequences))
        rows = tf.reshape(parent + width * tf.range(batch)[:, None], [-1])
        states = tf.nest.map_structure(lambda s: tf.gather(s, rows), states)
        logits, states = step(tf.reshape(token, [-1]), states)
        step_scores = log_probs(
            tf.reshape(logits, [batch, width, vocabulary]), finished
        )
        return t + 1, step_scores, states, scores, finished, lengths, sequences

    *_, scores, finished, lengths, sequences = tf.while_loop(
        lambda t, *rest: (t < max_length) & ~tf.reduce_all(rest[3]),
        body,
        (tf.constant(0), step_scores, states, scores, finished, lengths, sequences),
        maximum_iterations=max_length,
    )
    normalised = scores / length_penalty(tf.maximum(lengths, 1), alpha)
    best = tf.argmax(normalised, axis=-1, output_type=tf.int32)
    return tf.gather(sequences, best, batch_dims=1)
