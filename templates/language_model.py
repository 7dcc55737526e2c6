"""Tokens, vocabularies and in-graph generation for recurrent language models.

Ids 0, 1 and 2 are reserved: padding, unknown token and beginning of text.
Every training window and every prompt starts with the beginning-of-text
token, so an empty prompt starts from the state the model learned for the
start of a text.
"""

import collections

import keras
import numpy as np
import tensorflow as tf

from rnnkit.layers.recurrent import Recurrent
from rnnkit.templates import decoding

PAD, UNK, BOS = 0, 1, 2
SPECIAL = ("", "[UNK]", "[BOS]")


def split_tokens(text, tokenization):
    """Characters, or whitespace-separated words (punctuation kept)."""
    return list(text) if tokenization == "character" else text.split()


class Vocabulary:
    """The `size` most frequent tokens after the `special` reserved ones
    (padding and unknown first, always)."""

    def __init__(self, tokens, special=SPECIAL):
        self.special = tuple(special)
        self.tokens = [t for t in tokens if t not in self.special]
        offset = len(self.special)
        self.ids = {token: i + offset for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, tokens, size, special=SPECIAL):
        counts = collections.Counter(tokens)
        ranked = sorted(counts, key=lambda token: (-counts[token], token))
        return cls(ranked[: max(0, size - len(special))], special)

    def __len__(self):
        return len(self.tokens) + len(self.special)

    def encode(self, tokens):
        return np.array([self.ids.get(t, UNK) for t in tokens], dtype="int32")

    def all_tokens(self):
        return [*self.special, *self.tokens]


class TextGenerator:
    """Generates text with a trained recurrent language model, in the graph.

    The model must have layers named `embedding` and `logits` with rnnkit
    recurrent layers between them. The prompt is encoded once by the
    recurrent layers; each new token then costs one step of their cells.

    Args:
        model: The trained language model (token ids in, logits out).
        vocabulary: Its `Vocabulary`.
        tokenization: `"character"` or `"word"`.
    """

    def __init__(self, model, vocabulary, tokenization):
        self.embedding = model.get_layer("embedding")
        self.recurrent = [
            layer for layer in model.layers if isinstance(layer, Recurrent)
        ]
        self.head = model.get_layer("logits")
        self.tokenization = tokenization
        self.lookup = keras.layers.StringLookup(
            vocabulary=["[BOS]", *vocabulary.tokens], mask_token="", oov_token="[UNK]"
        )
        self.lookup(tf.constant([""]))  # builds it, so that it can be exported
        self.token_strings = tf.constant(vocabulary.all_tokens())
        self.separator = "" if tokenization == "character" else " "

    def token_ids(self, texts):
        """`(batch, 1 + tokens)` int32: BOS, then the texts' ids, 0-padded."""
        if self.tokenization == "character":
            pieces = tf.strings.unicode_split(texts, "UTF-8")
        else:
            pieces = tf.strings.split(texts)
        ids = tf.cast(self.lookup(pieces), tf.int32)
        bos = tf.RaggedTensor.from_tensor(tf.fill([tf.shape(texts)[0], 1], BOS))
        return tf.concat([bos, ids], axis=1).to_tensor(default_value=PAD)

    def encode(self, ids):
        """Runs the prompt through the layers once: `(last logits, states)`."""
        mask = tf.not_equal(ids, PAD)
        x = self.embedding(ids)
        states = []
        for layer in self.recurrent:
            x, layer_states = layer.call_with_states(x, mask=mask)
            states.append(layer_states)
        # A padded row's last output is its output at its last real token.
        return self.head(x[:, -1]), states

    def step(self, tokens, states):
        """One token per row in; the next logits and the new states out."""
        # A plain lookup: the Embedding layer would attach a mask to the
        # step's input, which the cells have no use for.
        x = tf.gather(self.embedding.embeddings, tokens)
        new_states = []
        for layer, layer_states in zip(self.recurrent, states):
            x, layer_states = layer.cell(x, layer_states, training=False)
            new_states.append(layer_states)
        return self.head(x), new_states

    def detokenize(self, ids):
        tokens = tf.gather(self.token_strings, ids)
        return tf.strings.reduce_join(tokens, axis=-1, separator=self.separator)

    def generate(
        self,
        prompts,
        max_length,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        seed=0,
        greedy=False,
    ):
        """`prompts` plus their continuations of `max_length` tokens."""
        logits, states = self.encode(self.token_ids(prompts))
        never = tf.one_hot([PAD, UNK, BOS], tf.shape(logits)[-1], on_value=-1e9)
        banned = tf.reduce_sum(never, axis=0)  # reserved ids are never produced

        def choose(logits, t):
            logits = logits + banned
            return decoding.next_tokens(
                logits, temperature, top_k, top_p, seed, t, greedy
            )

        new = decoding.decode(self.step, logits, states, max_length, choose)
        continuation = self.detokenize(new)
        if self.separator:
            spaced = prompts + self.separator + continuation
            return tf.where(tf.strings.length(prompts) > 0, spaced, continuation)
        return prompts + continuation

    def score(self, texts):
        """`(nats, tokens)` per text: its negative log-likelihood under the
        model, predicting each token from BOS and the tokens before it."""
        ids = self.token_ids(texts)
        inputs, targets = ids[:, :-1], ids[:, 1:]
        x = self.embedding(inputs)
        mask = tf.not_equal(inputs, PAD)
        for layer in self.recurrent:
            x, _ = layer.call_with_states(x, mask=mask)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, self.head(x))
        counted = tf.cast(tf.not_equal(targets, PAD), losses.dtype)
        return tf.reduce_sum(losses * counted, -1), tf.reduce_sum(counted, -1)
