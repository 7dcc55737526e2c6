"""Generating and scoring text with a recurrent language model, in the graph.

Ids 0, 1 and 2 are reserved: padding, unknown token and beginning of text.
Every training window and every prompt starts with the beginning-of-text
token, so an empty prompt starts from the state the model learned for the
start of a text.

The model is used only through its `forward(token_ids, states)`, the very
function its training calls: the prompt is run through it once, then each
new token is one more call on a single step, carrying the states. So
whatever the model does (another layer, a normalisation), generation does.
"""

import tensorflow as tf

from rnnkit.templates import decoding

PAD, UNK, BOS = 0, 1, 2
RESERVED = ("", "[UNK]", "[BOS]")


class TextGenerator:
    """Generates and scores text with a trained language model, in the graph.

    Args:
        encoder: The model's `TextEncoder` (strings to ids and back).
        forward: `forward(token_ids, states) -> (logits, states)`: the model
            on `(batch, time)` ids from `states` (`None`: the initial
            condition `x_0`), giving `(batch, time, vocabulary)` logits and
            the states after the last step.
    """

    def __init__(self, encoder, forward):
        self.encoder = encoder
        self.forward = forward

    def token_ids(self, texts):
        """`(batch, 1 + tokens)` int32: BOS, then the texts' ids, 0-padded."""
        ids = self.encoder(texts)
        batch = tf.shape(texts)[0]
        bos = tf.RaggedTensor.from_tensor(tf.fill([batch, 1], BOS))
        # (The shape keeps the BOS column in an empty batch, too.)
        ids = tf.concat([bos, ids], axis=1)
        lengths = tf.concat([ids.row_lengths(), [1]], axis=0)  # at least BOS
        width = tf.cast(tf.reduce_max(lengths), tf.int32)
        return ids.to_tensor(default_value=PAD, shape=tf.stack([batch, width]))

    def encode(self, ids):
        """Runs the prompts through the model once: `(next logits, states)`."""
        logits, states = self.forward(ids)
        last = tf.reduce_sum(tf.cast(tf.not_equal(ids, PAD), tf.int32), -1) - 1
        return tf.gather(logits, last, batch_dims=1), states

    def step(self, tokens, states):
        """One token per row in; the next logits and the new states out."""
        logits, states = self.forward(tokens[:, None], states)
        return logits[:, 0], states

    def generate(self, prompts, max_length, temperature, top_k, top_p, seed):
        """`prompts` plus their continuations of up to `max_length` tokens
        (`top_k=1`: greedy)."""
        logits, states = self.encode(self.token_ids(prompts))
        reserved = tf.range(tf.shape(logits)[-1]) < len(self.encoder.reserved)

        def choose(logits, t):
            # never produce padding, [UNK] or [BOS], whatever the temperature
            logits = tf.where(reserved, -float("inf"), logits)
            return decoding.next_tokens(logits, temperature, top_k, top_p, seed, t)

        new = decoding.decode(self.step, logits, states, max_length, choose)
        continuation = self.encoder.detokenize(new)
        separator = self.encoder.separator
        if separator:
            spaced = prompts + separator + continuation
            return tf.where(tf.strings.length(prompts) > 0, spaced, continuation)
        return prompts + continuation

    def score(self, texts):
        """`(nats, tokens)` per text: its negative log-likelihood under the
        model, predicting each token from BOS and the tokens before it."""
        # One padding column more, so that an empty text still has a step.
        ids = tf.pad(self.token_ids(texts), [[0, 0], [0, 1]])
        inputs, targets = ids[:, :-1], ids[:, 1:]
        logits, _ = self.forward(inputs)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
        counted = tf.cast(tf.not_equal(targets, PAD), losses.dtype)
        return tf.reduce_sum(losses * counted, -1), tf.reduce_sum(counted, -1)
