"""Sequence-to-sequence with attention: tokens, the model, in-graph decoding.

The encoder reads the source (many-to-one) and its final state becomes the
decoder's initial condition `x_0`; the decoder writes the target one token at
a time (one-to-many), attending over every encoder output at every step.
Greedy decoding and beam search run inside the graph, carrying the decoder
state from step to step; the encoder runs once per request.
"""

import keras
import tensorflow as tf

from rnnkit.layers import get_layer
from rnnkit.templates import decoding
from rnnkit.templates.language_model import Vocabulary

SOURCE_SPECIAL = ("", "[UNK]")
TARGET_SPECIAL = ("", "[UNK]", "[START]", "[END]")
PAD, UNK, START, END = 0, 1, 2, 3
ATTENTION = ("additive", "multiplicative", "none")
MAX_BEAM_WIDTH = 16
# Punctuation becomes its own word; letters of any script stay in words.
PUNCTUATION = r"([^\p{L}\p{N}\s'])"


def tokenize(texts, mode):
    """`(batch,)` strings to ragged tokens: characters, or lower-cased words
    with punctuation split off. The same code tokenises training data and
    serving requests."""
    if mode == "character":
        return tf.strings.unicode_split(texts, "UTF-8")
    lowered = tf.strings.lower(texts, encoding="utf-8")
    return tf.strings.split(tf.strings.regex_replace(lowered, PUNCTUATION, r" \1 "))


def tokenize_texts(texts, mode):
    """Python lists of token strings, by `tokenize`."""
    ragged = tokenize(tf.constant(texts, dtype=tf.string), mode)
    return [[t.decode() for t in row] for row in ragged.to_list()]


def detokenize(tokens, mode):
    """`(batch, length)` token strings, padding "" included, to strings."""
    if mode == "character":
        return tf.strings.reduce_join(tokens, axis=-1)
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    text = tf.strings.regex_replace(text, " +", " ")
    text = tf.strings.regex_replace(text, r" ([.,!?;:%)\]])", r"\1")
    return tf.strings.strip(text)


def source_vocabulary(tokens, size):
    return Vocabulary.build(tokens, size, SOURCE_SPECIAL)


def target_vocabulary(tokens, size):
    return Vocabulary.build(tokens, size, TARGET_SPECIAL)


# The model -----------------------------------------------------------------


def encoder_layers(config):
    """The encoder's recurrent layers; the last also returns its states."""
    found = []
    for depth in range(config["layers"]):
        last, name = depth == config["layers"] - 1, f"encoder_{depth}"
        options = dict(return_sequences=True, return_state=last, **cell_extras(config))
        if config["bidirectional"]:
            layer = get_layer(config["cell"], config["units"], **options)
            found.append(keras.layers.Bidirectional(layer, name=name))
        else:
            found.append(
                get_layer(config["cell"], config["units"], name=name, **options)
            )
    return found


def decoder_units(config):
    return config["units"] * (2 if config["bidirectional"] else 1)


def cell_extras(config):
    return {k: config[k] for k in ("reset_after", "unit_forget_bias") if k in config}


def encode(layers, x, mask, bidirectional):
    """Encoder outputs and final states; a bidirectional encoder's forward and
    backward states are concatenated, so the decoder has twice the units."""
    for layer in layers[:-1]:
        x = layer(x, mask=mask)
    outputs, *states = layers[-1](x, mask=mask)
    if bidirectional:
        half = len(states) // 2
        states = [
            keras.ops.concatenate([f, b], -1)
            for f, b in zip(states[:half], states[half:])
        ]
    return outputs, states


def attention_layer(kind):
    if kind == "additive":
        return keras.layers.AdditiveAttention(name="attention")  # Bahdanau
    if kind == "multiplicative":
        return keras.layers.Attention(name="attention")  # Luong (dot)
    return None


class Translator:
    """Translates with a trained sequence-to-sequence model, in the graph.

    Built from the model's named layers (`source_embedding`, `encoder_*`,
    `target_embedding`, `decoder_*`, `attention`, `combine`, `logits`).

    Args:
        model: The trained model.
        source: The source `Vocabulary`; target: the target one.
        config: The resolved config (tokenisation, lengths, attention).
    """

    def __init__(self, model, source, target, config):
        self.config = config
        self.source_embedding = model.get_layer("source_embedding")
        self.encoder = [
            model.get_layer(f"encoder_{i}") for i in range(config["layers"])
        ]
        self.target_embedding = model.get_layer("target_embedding")
        self.decoder = [
            model.get_layer(f"decoder_{i}") for i in range(config["layers"])
        ]
        self.attention = None
        if config["attention"] != "none":
            self.attention = model.get_layer("attention")
        self.combine = model.get_layer("combine")
        self.head = model.get_layer("logits")
        self.model = model
        self.lookup = keras.layers.StringLookup(
            vocabulary=source.tokens, mask_token="", oov_token="[UNK]"
        )
        self.lookup(tf.constant([""]))  # builds it, so that it can be exported
        self.target_tokens = tf.constant(target.all_tokens())

    def source_ids(self, texts):
        tokens = tokenize(texts, self.config["source_tokenization"])
        tokens = tokens[:, : self.config["source_length"]]  # longer inputs truncated
        return tf.cast(self.lookup(tokens), tf.int32).to_tensor(default_value=PAD)

    def encode(self, source_ids):
        mask = tf.not_equal(source_ids, PAD)
        x = self.source_embedding(source_ids)
        outputs, states = encode(self.encoder, x, mask, self.config["bidirectional"])
        return outputs, mask, [states for _ in self.decoder]

    def step(self, memory, tokens, states):
        """One decoder step: logits, new states and attention weights."""
        outputs, mask = memory
        x = tf.gather(self.target_embedding.embeddings, tokens)
        new_states = []
        for layer, layer_states in zip(self.decoder, states):
            x, layer_states = layer.cell(x, layer_states, training=False)
            new_states.append(layer_states)
        weights = tf.zeros([tf.shape(x)[0], tf.shape(outputs)[1]])
        if self.attention is not None:
            context, weights = self.attention(
                [x[:, None], outputs], mask=[None, mask], return_attention_scores=True
            )
            x = tf.concat([x, context[:, 0]], -1)
            weights = weights[:, 0]
        return self.head(self.combine(x)), new_states, weights

    def start(self, source_ids):
        outputs, mask, states = self.encode(source_ids)
        memory = (outputs, mask)
        starts = tf.fill([tf.shape(source_ids)[0]], START)
        logits, states, _ = self.step(memory, starts, states)
        return memory, logits, states

    def greedy(self, source_ids, max_length, with_attention=False):
        memory, logits, states = self.start(source_ids)

        def step(tokens, states):
            logits, states, weights = self.step(memory, tokens, states)
            return (logits, states, weights) if with_attention else (logits, states)

        def choose(logits, t):
            banned = tf.one_hot([PAD, UNK, START], tf.shape(logits)[-1], on_value=-1e9)
            return tf.argmax(
                logits + tf.reduce_sum(banned, 0), -1, output_type=tf.int32
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
            self.config["length_penalty"],
            END,
            (UNK, START),
        )

    def log_probability(self, source_ids, target_ids):
        """Length-normalised log-probability of `target_ids` (ending at END)
        under the model, by teacher forcing."""
        inputs = tf.concat(
            [tf.fill([tf.shape(target_ids)[0], 1], START), target_ids[:, :-1]], 1
        )
        log_probs = tf.nn.log_softmax(self.model([source_ids, inputs], training=False))
        picked = tf.gather(log_probs, target_ids, batch_dims=2)
        real = tf.not_equal(target_ids, PAD)
        total = tf.reduce_sum(tf.where(real, picked, 0.0), -1)
        lengths = tf.reduce_sum(tf.cast(real, tf.int32), -1)
        return total / decoding.length_penalty(
            tf.maximum(lengths, 1), self.config["length_penalty"]
        )

    def text(self, source_ids, target_ids):
        """Target ids to strings, up to END; an empty source gives ""."""
        tokens = tf.gather(self.target_tokens, target_ids)
        ended = tf.cumsum(tf.cast(tf.equal(target_ids, END), tf.int32), axis=-1) > 0
        tokens = tf.where(ended, "", tokens)
        text = detokenize(tokens, self.config["target_tokenization"])
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
