"""Translation (sequence to sequence): an encoder reads the source, a decoder
writes the target one token at a time, attending over the source.

The encoder is many-to-one: its final state summarises the source, and it
becomes the decoder's initial condition `x_0`. The decoder is one-to-many:
its state `x_t = f(W_xx x_{t-1} + W_xu u_t + b)` carries what it has written
so far, and attention lets each step look back at every encoder output.

This file is yours to edit: `rnnkit new translation my_task` copies it. It
reads top to bottom: setup, configuration, data, model (with its search
space), training, inference and export. `Seq2Seq.encode` and `decode` are
the whole model: training and translation both call them, so an edit to
them changes both.
"""

# Setup ----------------------------------------------------------------------

import collections
import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf

from rnnkit.layers import CELL_TYPES, Bidirectional, get_layer
from rnnkit.templates import config as settings
from rnnkit.templates import (
    decoding,
    evaluation,
    export,
    parallel_text,
    search_space,
    seq2seq,
    streaming,
    text_files,
    vectorize,
)
from rnnkit.templates.baselines import copy_source_scores
from rnnkit.templates.errors import DataError
from rnnkit.templates.seq2seq import END, PAD, START, Translator
from rnnkit.templates.text_encoder import (
    TOKENIZATIONS,
    TextEncoder,
    tokenize_signature,
    tokens_of,
)
from rnnkit.templates.training import optimizer

# Configuration --------------------------------------------------------------

TASK = "translation"
MONITOR, MONITOR_MODE = "val_loss", "min"  # early stopping
PRIMARY_METRIC, PRIMARY_MODE = "bleu", "max"  # picks the best run to export


def check_config(config):
    for side in ("source", "target"):
        settings.require(config, f"{side}_tokenization", allowed=TOKENIZATIONS)
        settings.require(config, f"{side}_lowercase", allowed=(False, True))
        settings.require(config, f"{side}_vocabulary_size", minimum=8)
        settings.require(config, f"{side}_length", minimum=2)
    settings.require(config, "cell", allowed=CELL_TYPES)
    settings.require(config, "attention", allowed=seq2seq.ATTENTION)
    for key in ("embedding_dim", "units", "epochs", "batch_size"):
        settings.require(config, key, minimum=1)
    settings.require(config, "layers", minimum=1, maximum=4)
    settings.require(config, "dropout", minimum=0.0, maximum=0.9)
    settings.require(config, "validation_split", minimum=0.01, maximum=0.5)
    settings.require(config, "beam_width", minimum=1, maximum=seq2seq.MAX_BEAM_WIDTH)
    settings.require(config, "shuffle_buffer", minimum=1)
    search_space.check(config, {"attention": seq2seq.ATTENTION})


# Data -----------------------------------------------------------------------


@dataclasses.dataclass
class Data:
    train: parallel_text.Pairs
    validation: parallel_text.Pairs
    source: TextEncoder  # the source side's tokens and ids, shared with serving
    target: TextEncoder


def text_options(config, side):
    """How one side's text is split: words with punctuation split off (or
    characters), lower-cased if the config says so."""
    return dict(
        tokenization=config[f"{side}_tokenization"],
        lowercase=config[f"{side}_lowercase"],
        split_punctuation=True,
    )


def read_examples(config, path):
    """Pairs from a TSV (`source<TAB>target`), for validation and evaluate."""
    return parallel_text.read_pairs(path, None, config["encoding_errors"])


def read_data(config, folder):
    if config["streaming"]:
        return read_streamed(config, folder)
    target_path = folder / config["target_data"] if config["target_data"] else None
    pairs = parallel_text.read_pairs(
        folder / config["data"], target_path, config["encoding_errors"]
    )
    if config["validation_data"]:
        train = pairs
        validation = read_examples(config, folder / config["validation_data"])
    else:
        train, validation = parallel_text.split(
            pairs, config["validation_split"], config["seed"]
        )
    encoders = {}
    for side, texts, reserved in (
        ("source", train.texts, seq2seq.SOURCE_RESERVED),
        ("target", train.labels, seq2seq.TARGET_RESERVED),
    ):
        options = text_options(config, side)
        tokens = tokens_of(texts, **options)
        vectorize.warn_about_long_texts(
            [len(t) for t in tokens],
            config[f"{side}_length"],
            f"{train.source} ({side})",
            f"{side}_length",
        )
        encoders[side] = TextEncoder.adapt(
            [t for row in tokens for t in row],
            config[f"{side}_vocabulary_size"],
            reserved=reserved,
            **options,
        )
    return Data(train, validation, encoders["source"], encoders["target"])


def read_streamed(config, folder):
    """`streaming = true`: the pairs stay on disk. One checking pass reads
    every line and counts each side's tokens (see
    `rnnkit.templates.streaming`); validation is `validation_data`, or the
    pairs whose source text hashes into the held-out `validation_split`."""
    errors = config["encoding_errors"]
    target = folder / config["target_data"] if config["target_data"] else None
    train = streaming.PairStream(folder / config["data"], target, errors)
    if config["validation_data"]:
        validation = streaming.PairStream(
            folder / config["validation_data"], None, errors
        )
    else:
        train, validation = train.split(config["validation_split"], config["seed"])
    sides = ("source", "target")
    counts = {side: collections.Counter() for side in sides}
    long = {side: [] for side in sides}  # lengths of the pairs to be cut

    def count(batch):
        for side, texts in zip(sides, zip(*batch)):
            tokens = tokens_of(texts, **text_options(config, side))
            counts[side].update(t for row in tokens for t in row)
            limit = config[f"{side}_length"]
            long[side] += [len(row) for row in tokens if len(row) > limit]

    pending = []

    def visit(part, source, target):
        if part is train:
            pending.append((source, target))
            if len(pending) == 1024:  # the tokeniser works on batches
                count(pending)
                pending.clear()

    streaming.scan([train, validation], visit)
    if pending:
        count(pending)
    text_files.require_rows(train.count, train.source, train.skipped)
    if not validation.count:
        raise DataError(f"{train.source}: too few pairs to hold any out for validation")
    encoders = {}
    for side, reserved in zip(
        sides, (seq2seq.SOURCE_RESERVED, seq2seq.TARGET_RESERVED)
    ):
        limit = f"{side}_length"
        source = f"{train.source} ({side})"
        vectorize.warn_about_long_texts(
            long[side], config[limit], source, limit, count=train.count
        )
        encoders[side] = TextEncoder.from_counts(
            counts[side],
            config[f"{side}_vocabulary_size"],
            reserved=reserved,
            **text_options(config, side),
        )
    return Data(train, validation, encoders["source"], encoders["target"])


def arrays(config, data, pairs):
    """Padded ids: the source, the decoder's input (START + target) and its
    output (target + END), with weights that mask the padding out."""

    def pad(rows, length):
        out = np.zeros((len(rows), length), "int32")
        for i, row in enumerate(rows):
            out[i, : len(row)] = row[:length]
        return out

    length = config["target_length"]
    targets = [t[: length - 1] for t in data.target.encode_texts(pairs.labels)]
    source = pad(data.source.encode_texts(pairs.texts), config["source_length"])
    target_in = pad([[START, *t] for t in targets], length)
    target_out = pad([[*t, END] for t in targets], length)
    return (source, target_in), target_out, (target_out > 0).astype("float32")


def encoded(config, data, sources, targets):
    """`arrays` in the graph, for a batch of string tensors: what a
    streaming pipeline feeds the model."""
    length = config["target_length"]
    source = data.source(sources)[:, : config["source_length"]]
    target = data.target(targets)[:, : length - 1]
    rows = tf.shape(sources)[:1]
    start = tf.fill(tf.concat([rows, [1]], 0), START)
    end = tf.fill(tf.concat([rows, [1]], 0), END)
    target_in = tf.concat([start, target], 1)
    target_out = tf.concat([target, end], 1)
    source = source.to_tensor(0, shape=[None, config["source_length"]])
    target_in = target_in.to_tensor(0, shape=[None, length])
    target_out = target_out.to_tensor(0, shape=[None, length])
    weights = tf.cast(target_out > 0, tf.float32)
    return (source, target_in), target_out, weights


def _longest(ids):
    """The most tokens of any row of `ids` (padding comes last), at least 1."""
    return tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(ids > 0, tf.int32), -1)), 1)


def trim(inputs, target_out, weights):
    """Drops the padding columns that no row of the batch needs."""
    source, target_in = inputs
    source_length, target_length = _longest(source), _longest(target_out)
    return (
        (source[:, :source_length], target_in[:, :target_length]),
        target_out[:, :target_length],
        weights[:, :target_length],
    )


def datasets(config, data):
    """Batches of pairs of like length, each cut to its longest pair: padded
    to target_length, a corpus of short and long sentences spends half its
    time on padding. (The loss and the answers do not depend on padding.)"""
    batch = config["batch_size"]
    boundaries = list(range(8, config["target_length"], 4))

    def length(inputs, target_out, weights):
        return tf.maximum(_longest(inputs[0]), _longest(target_out))

    def make(pairs, shuffle):
        if config["streaming"]:
            ds = streamed_arrays(config, data, pairs)
        else:
            ds = tf.data.Dataset.from_tensor_slices(arrays(config, data, pairs))
        if shuffle:
            size = config["shuffle_buffer"] if config["streaming"] else len(pairs)
            ds = ds.shuffle(size, seed=config["seed"])
        ds = ds.bucket_by_sequence_length(
            length, boundaries, [batch] * (len(boundaries) + 1)
        )
        return ds.map(trim).prefetch(tf.data.AUTOTUNE)

    return make(data.train, True), make(data.validation, False)


def streamed_arrays(config, data, pairs):
    """The examples of `arrays`, one at a time, from pairs read from disk."""
    texts = tf.TensorSpec((None,), tf.string)

    def blocks():  # whole blocks: one pair at a time, Python is the bottleneck
        for block in streaming.batches(pairs, streaming.READ_BLOCK):
            sources, targets = zip(*block)
            yield list(sources), list(targets)

    ds = tf.data.Dataset.from_generator(
        lambda: streaming.checked(blocks()), output_signature=(texts, texts)
    )
    return ds.map(lambda s, t: encoded(config, data, s, t)).unbatch()


def data_summary(data):
    return {
        "train_pairs": len(data.train),
        "skipped_lines": data.train.skipped,
        "source_vocabulary_size": len(data.source),
        "target_vocabulary_size": len(data.target),
    }


# Model ----------------------------------------------------------------------


def hyperparameters(hp, config):
    """The search space for `rnnkit tune`; every default is the config's."""
    chosen = search_space.recurrent(hp, config)
    for name in ("bidirectional", "attention"):
        chosen[name] = search_space.choice(hp, config, name)
    return chosen


ATTENTION_LAYERS = {
    "additive": keras.layers.AdditiveAttention,  # Bahdanau
    "multiplicative": keras.layers.Attention,  # Luong (dot)
}


class Seq2Seq(keras.Model):
    """`[source ids, decoder input ids]` in, next-token logits out.

    Args:
        source, target: The `TextEncoder`s of each side (they travel with
            the model).
        embedding_dim, cell, units, layers, bidirectional, attention,
            dropout: As in config.toml.
        cell_options: More arguments for each recurrent layer.
    """

    def __init__(
        self,
        source,
        target,
        embedding_dim,
        cell,
        units,
        layers,
        bidirectional,
        attention,
        dropout,
        cell_options=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source = _layer(source)
        self.target = _layer(target)
        self.settings = dict(
            embedding_dim=embedding_dim,
            cell=cell,
            units=units,
            layers=layers,
            bidirectional=bidirectional,
            attention=attention,
            dropout=dropout,
            cell_options=cell_options or {},
        )
        options = dict(return_sequences=True, return_state=True, **(cell_options or {}))
        self.source_embedding = keras.layers.Embedding(
            len(self.source), embedding_dim, mask_zero=True
        )
        self.encoder = [get_layer(cell, units, **options) for _ in range(layers)]
        if bidirectional:
            self.encoder = [Bidirectional(e) for e in self.encoder]
        decoder_units = units * (2 if bidirectional else 1)
        self.target_embedding = keras.layers.Embedding(
            len(self.target), embedding_dim, mask_zero=True
        )
        self.decoder = [
            get_layer(cell, decoder_units, **options) for _ in range(layers)
        ]
        self.attention = None
        if attention != "none":
            self.attention = ATTENTION_LAYERS[attention]()
            # Keras's attention layers compare query and key as they are;
            # Bahdanau's and Luong's ("general") score them after learned
            # maps, W_q y_t and W_k h_s, which is what lets the decoder's
            # states and the encoder's live in spaces of their own.
            self.query_map = keras.layers.Dense(decoder_units, use_bias=False)
            self.key_map = keras.layers.Dense(decoder_units, use_bias=False)
        self.dropout = keras.layers.Dropout(dropout)
        # The decoder's state and the attention's context, normalised together
        # before `combine`: without it the model predicted little but the most
        # frequent word for four epochs of the bundled corpus, with it the
        # token accuracy rose from the first (README, "Quality").
        self.combine_norm = keras.layers.LayerNormalization()
        self.combine = keras.layers.Dense(decoder_units, activation="tanh")
        self.head = keras.layers.Dense(len(self.target))

    def encode(self, source_ids, training=False):
        """The memory the decoder attends over, `(outputs, mask, keys)`, and
        the decoder's initial states: the last encoder layer's final states,
        forward and backward ones concatenated with a bidirectional encoder.
        The keys, `W_k h_s` (the outputs where there is no attention), are
        mapped once here rather than at every decoding step."""
        mask = keras.ops.not_equal(source_ids, PAD)
        x = self.source_embedding(source_ids)
        for layer in self.encoder:
            x, *states = layer(x, mask=mask, training=training)
        if self.settings["bidirectional"]:
            half = len(states) // 2
            states = [
                keras.ops.concatenate([f, b], -1)
                for f, b in zip(states[:half], states[half:])
            ]
        keys = x if self.attention is None else self.key_map(x)
        return (x, mask, keys), [states for _ in self.decoder]

    def decode(self, target_ids, memory, states, training=False):
        """`(batch, time)` target ids from `states` to logits, the states
        after the last step and the attention weights over the source."""
        outputs, source_mask, keys = memory
        mask = keras.ops.not_equal(target_ids, PAD)
        y = self.target_embedding(target_ids)
        new_states = []
        for layer, layer_states in zip(self.decoder, states):
            y, *layer_states = layer(
                y, initial_state=layer_states, mask=mask, training=training
            )
            new_states.append(layer_states)
        shape = keras.ops.shape(y)[:2]
        weights = keras.ops.zeros((*shape, keras.ops.shape(outputs)[1]))
        if self.attention is not None:
            context, weights = self.attention(
                [self.query_map(y), outputs, keys],
                mask=[mask, source_mask],
                return_attention_scores=True,
                training=training,
            )
            y = keras.ops.concatenate([y, context], -1)
        y = self.combine(self.dropout(self.combine_norm(y), training=training))
        return self.head(y), new_states, weights

    def build(self, inputs_shape):
        # Two tokens of each side create every weight, here and when a saved
        # model is loaded.
        ids = keras.ops.full((1, 2), START, "int32")
        memory, states = self.encode(ids)
        self.decode(ids, memory, states)

    def call(self, inputs, training=False):
        source_ids, target_in = inputs
        memory, states = self.encode(source_ids, training)
        return self.decode(target_in, memory, states, training)[0]

    def get_config(self):
        return {
            **super().get_config(),
            "source": keras.layers.serialize(self.source),
            "target": keras.layers.serialize(self.target),
            **self.settings,
        }


def _layer(value):
    """A layer, or one deserialised from its config (when loading)."""
    return keras.layers.deserialize(value) if isinstance(value, dict) else value


def build_model(config, data):
    """`[source ids, decoder input ids]` in, next-token logits out; compiled."""
    extra = {k: config[k] for k in ("reset_after", "unit_forget_bias") if k in config}
    model = Seq2Seq(
        data.source,
        data.target,
        config["embedding_dim"],
        config["cell"],
        config["units"],
        config["layers"],
        config["bidirectional"],
        config["attention"],
        config["dropout"],
        cell_options=extra,
        name="translator",
    )
    model.build([(None, None), (None, None)])
    model.compile(
        optimizer=optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],  # masked token accuracy
    )
    return model


# Train: `rnnkit.templates.workflow.train` fits `build_model` on `datasets`
# (teacher forcing, padding masked out of loss and accuracy), then `validate`.

# Inference ------------------------------------------------------------------


def translator(model, config):
    """Greedy and beam-search decoding with the model's own encode and
    decode."""
    return Translator(
        model.source,
        model.target,
        model.encode,
        model.decode,
        config["source_length"],
        config["length_penalty"],
    )


def validate(model, config, data, meta):
    """BLEU, chrF and more of greedy translations of the validation pairs."""
    api = serving(model, {**meta, "hyperparameters": config})
    return evaluation.evaluate(api.functions(), api.describe(), data.validation, meta)


def baselines(config, data):
    """Copying the source as its own translation: what BLEU and chrF give
    for free (names, numbers and punctuation that pass through unchanged).
    None when streaming: it needs the validation pairs in memory."""
    if config["streaming"]:
        return []  # the validation pairs are not in memory
    started = time.perf_counter()
    scores = copy_source_scores(data.validation.texts, data.validation.labels)
    return [{**scores, "seconds": time.perf_counter() - started}]


def evaluation_report(result, folder):
    lines = [
        f"{s['source']}\n  = {s['reference']}\n  > {s['translation']}"
        for s in result["samples"]
    ]
    (folder / "samples.txt").write_text("\n\n".join(lines) + "\n")


def recurrent_inputs(model, texts):
    """What the first encoder layer reads for `texts`, for diagnose."""
    ids = model.source(tf.constant(texts)).to_tensor(default_value=PAD)
    tokens = [[model.source.all_tokens()[i] for i in row if i] for row in ids.numpy()]
    layer = model.encoder[0]
    return getattr(layer, "forward_layer", layer), tokens, model.source_embedding(ids)


# Export ---------------------------------------------------------------------


def metadata(config, data, model):
    return {
        "source_vocabulary": data.source.vocabulary,
        "target_vocabulary": data.target.vocabulary,
        "vocabulary_size": {"source": len(data.source), "target": len(data.target)},
    }


def serving(model, meta):
    """`serving_default`: `text` in, greedy `translation` out; `translate`:
    with `beam_width` and `max_length`; `attention`: greedy translations with
    their attention weights and tokens, for alignment plots; `tokenize`."""
    config = meta["hyperparameters"]
    model_translator = translator(model, config)
    length = config["target_length"]

    def serve(text):
        return {"translation": model_translator.translate(text, length)}

    def translate(text, beam_width, max_length):
        with tf.control_dependencies(decoding.assert_beam(beam_width, max_length)):
            translation = model_translator.translate(text, max_length, beam_width)
        return {"translation": translation}

    def attention(text):
        source_ids = model_translator.source_ids(text)
        target_ids, weights = model_translator.greedy(
            source_ids, length, with_attention=True
        )
        return {
            "translation": model_translator.text(source_ids, target_ids),
            "attention": weights,  # (batch, target step, source token)
            "source_tokens": model.source.tokens(source_ids),
            "target_tokens": model.target.tokens(target_ids),
        }

    text = [tf.TensorSpec([None], tf.string, name="text")]
    scalar = lambda name: tf.TensorSpec([], tf.int32, name=name)  # noqa: E731
    texts = ["", "I am here.", "Zyxwv qqq!"]
    beam = {"beam_width": config["beam_width"], "max_length": length}
    return export.Serving(
        model=model,
        signatures=[
            export.Signature("serving_default", serve, text),
            export.Signature(
                "translate",
                translate,
                [*text, scalar("beam_width"), scalar("max_length")],
                beam,
            ),
            export.Signature("attention", attention, text),
            tokenize_signature(model.source),
        ],
        output="translation",
        evaluation="references",
        checks=[
            ("serving_default", {"text": texts}),
            ("serving_default", {"text": ["", ""]}),
            ("translate", {"text": texts, "beam_width": 3, "max_length": 8}),
            ("attention", {"text": ["I am here."]}),
            ("tokenize", {"text": texts}),
        ],
    )
