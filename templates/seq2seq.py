"""Sequence-to-sequence decoding in the graph: greedy and beam search.

The encoder reads the source (many-to-one) and its final state becomes the
decoder's initial condition `x_0`; the decoder writes the target one token at
a time (one-to-many), attending over every encoder output at every step.

A `Translator` drives a model through two of the model's own functions,
`encode` and `decode`, the very ones its training call is made of (the
training call is `decode(target_in, *encode(source))`). Greedy decoding and
beam search run inside the graph, one `decode` call of one token per step,
carrying the decoder states; the encoder runs once per request.
"""

import tensorflow as tf

from rnnkit.templates import decoding

SOURCE_RESERVED = ("", "[UNK]")
TARGET_RESERVED = ("", "[UNK]", "[START]", "[END]")
PAD, UNK, START, END = 0, 1, 2, 3
ATTENTION = ("additive", "multiplicative", "none")
MAX_BEAM_WIDTH = decoding.MAX_BEAM_WIDTH


class Translator:
    """Translates with a trained sequence-to-sequence model, in the graph.

    Args:
        source: The source side's `TextEncoder`; target: the target's.
        encode: `encode(source_ids) -> (memory, states)`: what the decoder
            attends over (a nested structure of `(batch, ...)` tensors) and
            its initial states.
        decode: `decode(target_ids, memory, states) -> (logits, states,
            attention)`: `(batch, time, vocabulary)` logits, the states
            after the last step and `(batch, time, source)` weights.
        source_length: Source tokens read; longer inputs are truncated.
        length_penalty: GNMT's alpha for beam search.
    """

    def __init__(self, source, target, encode, decode, source_length, length_penalty):
        self.source, self.target = source, target
        self.encode, self.decode = encode, decode
        self.source_length = source_length
        self.length_penalty = length_penalty

    def source_ids(self, texts):
        ids = self.source(texts)[:, : self.source_length]  # longer inputs truncated
        # At least one column, so that an all-empty batch still encodes.
        return tf.pad(ids.to_tensor(default_value=PAD), [[0, 0], [0, 1]])

    def step(self, memory, tokens, states):
        """One decoder step: logits, new states and attention weights."""
        logits, states, weights = self.decode(tokens[:, None], memory, states)
        return logits[:, 0], states, weights[:, 0]

    def start(self, source_ids):
        memory, states = self.encode(source_ids)
        starts = tf.fill([tf.shape(source_ids)[0]], START)
        logits, states, _ = self.step(memory, starts, states)
        return memory, logits, states

    def greedy(self, source_ids, max_length, with_attention=False):
        memory, logits, states = self.start(source_ids)

        def step(tokens, states):
            logits, states, weights = self.step(memory, tokens, states)
            return (logits, states, weights) if with_attention else (logits, states)

        def choose(logits, t):
            # never produce padding, [UNK] or [START]
            banned = tf.range(tf.shape(logits)[-1]) < END
            return tf.argmax(
                tf.where(banned, -float("inf"), logits), -1, output_type=tf.int32
            )

        extra = tf.float32 if with_attention else None
        return decoding.decode(
            step, logits, states, max_length, choose, END, PAD, extra
        )

    def beam(self, source_ids, max_length, beam_width):
        memory, logits, states = self.start(source_ids)
        tiled = tf.nest.map_structure(lambda m: tf.repeat(m, beam_width, 0), memory)

        def step(tokens, states):
            logits, states, _ = self.step(tiled, tokens, states)
            return logits, states

        return decoding.beam_search(
            step,
            logits,
            states,
            max_length,
            beam_width,
            self.length_penalty,
            END,
            (UNK, START),
        )

    def log_probability(self, source_ids, target_ids):
        """Length-normalised log-probability of `target_ids` (ending at END)
        under the model, by teacher forcing."""
        inputs = tf.concat(
            [tf.fill([tf.shape(target_ids)[0], 1], START), target_ids[:, :-1]], 1
        )
        memory, states = self.encode(source_ids)
        logits, _, _ = self.decode(inputs, memory, states)
        picked = tf.gather(tf.nn.log_softmax(logits), target_ids, batch_dims=2)
        real = tf.not_equal(target_ids, PAD)
        total = tf.reduce_sum(tf.where(real, picked, 0.0), -1)
        lengths = tf.reduce_sum(tf.cast(real, tf.int32), -1)
        return total / decoding.length_penalty(
            tf.maximum(lengths, 1), self.length_penalty
        )

    def text(self, source_ids, target_ids):
        """Target ids to strings, up to END; an empty source gives ""."""
        ended = tf.cumsum(tf.cast(tf.equal(target_ids, END), tf.int32), axis=-1) > 0
        text = self.target.detokenize(tf.where(ended, PAD, target_ids))
        empty = tf.reduce_all(tf.equal(source_ids, PAD), axis=-1)
        return tf.where(empty, "", text)

    def search(self, source_ids, max_length, beam_width=1):
        """Target ids: greedy with `beam_width=1`; otherwise beam search,
        whose result competes with the greedy one by the model's own
        length-normalised log-probability, so it never scores worse than
        greedy."""
        greedy = self.greedy(source_ids, max_length)
        if isinstance(beam_width, int) and beam_width == 1:
            return greedy

        def better_of_beam_and_greedy():
            beam = self.beam(source_ids, max_length, beam_width)
            beam_score = self.log_probability(source_ids, beam)
            better = beam_score >= self.log_probability(source_ids, greedy)
            return tf.where(better[:, None], beam, greedy)

        return tf.cond(
            tf.equal(beam_width, 1), lambda: greedy, better_of_beam_and_greedy
        )

    def translate(self, texts, max_length, beam_width=1):
        """Strings in, translations out (see `search`)."""
        source_ids = self.source_ids(texts)
        return self.text(source_ids, self.search(source_ids, max_length, beam_width))
