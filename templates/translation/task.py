"""Translation (sequence to sequence): an encoder reads the source, a decoder
writes the target one token at a time, attending over the source.

The encoder is many-to-one: its final state summarises the source, and it
becomes the decoder's initial condition `x_0`. The decoder is one-to-many:
its state `x_t = f(W_xx x_{t-1} + W_xu u_t + b)` carries what it has written
so far, and attention lets each step look back at every encoder output.

This file is yours to edit: `rnnkit new translation my_task` copies it. It
reads top to bottom: setup, configuration, data, model (with its search
space), training, inference and export.
"""

# Setup ----------------------------------------------------------------------

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from rnnkit.layers import CELL_TYPES, get_layer
from rnnkit.templates import config as settings
from rnnkit.templates import (
    decoding,
    metrics,
    parallel_text,
    search_space,
    seq2seq,
    vectorize,
)
from rnnkit.templates.errors import ConfigError
from rnnkit.templates.language_model import Vocabulary
from rnnkit.templates.seq2seq import END, START
from rnnkit.templates.training import optimizer

# Configuration --------------------------------------------------------------

TASK = "translation"
MONITOR, MONITOR_MODE = "val_loss", "min"  # early stopping
PRIMARY_METRIC, PRIMARY_MODE = "bleu", "max"  # picks the best run to export


def check_config(config):
    for side in ("source", "target"):
        settings.require(
            config, f"{side}_tokenization", allowed=vectorize.TOKENIZATIONS
        )
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
    search_space.check(config, {"attention": seq2seq.ATTENTION})


# Data -----------------------------------------------------------------------


@dataclasses.dataclass
class Data:
    train: parallel_text.Pairs
    validation: parallel_text.Pairs
    source: Vocabulary
    target: Vocabulary


def read_pairs(config, path, target_path=None):
    return parallel_text.read_pairs(path, target_path, config["encoding_errors"])


def read_data(config, folder):
    target_path = folder / config["target_data"] if config["target_data"] else None
    pairs = read_pairs(config, folder / config["data"], target_path)
    if config["validation_data"]:
        train, validation = (
            pairs,
            read_pairs(config, folder / config["validation_data"]),
        )
    else:
        train, validation = parallel_text.split(
            pairs, config["validation_split"], config["seed"]
        )
    source_tokens = seq2seq.tokenize_texts(train.texts, config["source_tokenization"])
    target_tokens = seq2seq.tokenize_texts(train.labels, config["target_tokenization"])
    for texts, side in ((train.texts, "source"), (train.labels, "target")):
        vectorize.warn_if_truncated(
            texts,
            config[f"{side}_tokenization"],
            config[f"{side}_length"],
            f"{train.source} ({side})",
        )
    return Data(
        train,
        validation,
        seq2seq.source_vocabulary(
            sum(source_tokens, []), config["source_vocabulary_size"]
        ),
        seq2seq.target_vocabulary(
            sum(target_tokens, []), config["target_vocabulary_size"]
        ),
    )


def arrays(config, data, pairs):
    """Padded ids: the source, the decoder's input (START + target) and its
    output (target + END), with weights that mask the padding out."""

    def pad(rows, length):
        out = np.zeros((len(rows), length), "int32")
        for i, row in enumerate(rows):
            out[i, : len(row)] = row[:length]
        return out

    sources = seq2seq.tokenize_texts(pairs.texts, config["source_tokenization"])
    targets = seq2seq.tokenize_texts(pairs.labels, config["target_tokenization"])
    length = config["target_length"]
    targets = [list(data.target.encode(t[: length - 1])) for t in targets]
    source = pad([data.source.encode(s) for s in sources], config["source_length"])
    target_in = pad([[START, *t] for t in targets], length)
    target_out = pad([[*t, END] for t in targets], length)
    return (source, target_in), target_out, (target_out > 0).astype("float32")


def datasets(config, data):
    def make(pairs, shuffle):
        ds = tf.data.Dataset.from_tensor_slices(arrays(config, data, pairs))
        if shuffle:
            ds = ds.shuffle(len(pairs), seed=config["seed"])
        return ds.batch(config["batch_size"]).prefetch(tf.data.AUTOTUNE)

    return make(data.train, True), make(data.validation, False)


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


def build_model(config, data):
    """`[source ids, decoder input ids]` in, next-token logits out; compiled."""
    source = keras.Input((None,), dtype="int32", name="source_ids")
    target_in = keras.Input((None,), dtype="int32", name="target_in")
    source_mask = keras.ops.not_equal(source, 0)
    target_mask = keras.ops.not_equal(target_in, 0)
    x = keras.layers.Embedding(
        len(data.source),
        config["embedding_dim"],
        mask_zero=True,
        name="source_embedding",
    )(source)
    memory, states = seq2seq.encode(
        seq2seq.encoder_layers(config), x, source_mask, config["bidirectional"]
    )
    y = keras.layers.Embedding(
        len(data.target),
        config["embedding_dim"],
        mask_zero=True,
        name="target_embedding",
    )(target_in)
    for depth in range(config["layers"]):
        decoder = get_layer(
            config["cell"],
            seq2seq.decoder_units(config),
            return_sequences=True,
            name=f"decoder_{depth}",
            **seq2seq.cell_extras(config),
        )
        y = decoder(y, initial_state=states, mask=target_mask)  # x_0: the encoder's
    attention = seq2seq.attention_layer(config["attention"])
    if attention is not None:
        context = attention([y, memory], mask=[target_mask, source_mask])
        y = keras.layers.Concatenate()([y, context])
    y = keras.layers.Dropout(config["dropout"])(y)
    y = keras.layers.Dense(
        seq2seq.decoder_units(config), activation="tanh", name="combine"
    )(y)
    logits = keras.layers.Dense(len(data.target), name="logits")(y)
    model = keras.Model([source, target_in], logits, name="translator")
    model.compile(
        optimizer=optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=["accuracy"],  # masked token accuracy
    )
    return model


# Train: `rnnkit.templates.workflow.train` fits `build_model` on `datasets`
# (teacher forcing, padding masked out of loss and accuracy), then `validate`.

# Inference ------------------------------------------------------------------


def translator(model, meta):
    return seq2seq.Translator(
        model,
        Vocabulary(meta["source_vocabulary"], seq2seq.SOURCE_SPECIAL),
        Vocabulary(meta["target_vocabulary"], seq2seq.TARGET_SPECIAL),
        meta["hyperparameters"],
    )


def evaluate(translate, pairs, config):
    hypotheses = np.concatenate(
        [translate(pairs.texts[i : i + 128]) for i in range(0, len(pairs), 128)]
    ).tolist()
    hypotheses = [h.decode() if isinstance(h, bytes) else h for h in hypotheses]
    mode = config["target_tokenization"]
    result = metrics.translation_metrics(
        hypotheses, pairs.labels, lambda texts: seq2seq.tokenize_texts(texts, mode)
    )
    result["samples"] = [
        {"source": s, "reference": r, "translation": h}
        for s, r, h in list(zip(pairs.texts, pairs.labels, hypotheses))[:10]
    ]
    return result


def keras_scorer(model, meta):
    run = tf.function(translator(model, meta).translate)
    length = meta["hyperparameters"]["target_length"]
    return lambda texts: run(tf.constant(texts), length).numpy()


def saved_model_scorer(signatures, meta):
    serve = signatures["serving_default"]
    return lambda texts: serve(text=tf.constant(texts))["translation"].numpy()


def validate(model, config, data, meta):
    return evaluate(keras_scorer(model, meta), data.validation, config)


def evaluate_file(scorer, config, path, meta):
    return evaluate(scorer, read_pairs(config, path), config)


def evaluation_report(result, folder):
    lines = [
        f"{s['source']}\n  = {s['reference']}\n  > {s['translation']}"
        for s in result["samples"]
    ]
    (folder / "samples.txt").write_text("\n\n".join(lines) + "\n")


def request(texts, options, meta):
    """`serving_default` (greedy), or `translate` with beam_width/max_length."""
    unknown = sorted(set(options) - {"beam_width", "max_length"})
    if unknown:
        raise ConfigError(
            f"options {unknown} do not apply to translation models; "
            "use beam_width and max_length"
        )
    config = meta["hyperparameters"]
    vectorize.warn_if_truncated(
        texts, config["source_tokenization"], config["source_length"], "input"
    )
    texts = tf.constant(texts, dtype=tf.string)
    if not options:
        return "serving_default", {"text": texts}
    full = {"beam_width": 1, "max_length": config["target_length"], **options}
    check_decoding(full["beam_width"], full["max_length"])
    return "translate", {
        "text": texts,
        **{k: tf.constant(v, tf.int32) for k, v in full.items()},
    }


def check_decoding(beam_width, max_length):
    if not 1 <= beam_width <= seq2seq.MAX_BEAM_WIDTH:
        raise ConfigError(
            f"beam_width must be in 1..{seq2seq.MAX_BEAM_WIDTH}. Received: {beam_width}"
        )
    if not 1 <= max_length <= decoding.MAX_LENGTH_CAP:
        raise ConfigError(
            f"max_length must be in 1..{decoding.MAX_LENGTH_CAP}. "
            f"Received: {max_length}"
        )


def format_prediction(text, outputs, index, meta, as_json):
    translation = outputs["translation"][index].decode()
    return {"text": text, "translation": translation} if as_json else translation


# Export ---------------------------------------------------------------------


def metadata(config, data, model):
    return {
        "source_vocabulary": data.source.tokens,
        "target_vocabulary": data.target.tokens,
        "vocabulary_size": {"source": len(data.source), "target": len(data.target)},
        "hyperparameters": config,
    }


def serving(model, meta):
    """`serving_default`: `text` in, greedy `translation` out; `translate`:
    with `beam_width` and `max_length`; `attention`: greedy translations with
    their attention weights and tokens, for alignment plots."""
    model_translator = translator(model, meta)
    length = meta["hyperparameters"]["target_length"]

    def serve(text):
        return {"translation": model_translator.translate(text, length)}

    def translate(text, beam_width, max_length):
        checks = [
            tf.debugging.assert_greater_equal(
                beam_width, 1, message="beam_width must be >= 1"
            ),
            tf.debugging.assert_less_equal(
                beam_width, seq2seq.MAX_BEAM_WIDTH, message="beam_width must be <= 16"
            ),
            tf.debugging.assert_greater_equal(
                max_length, 1, message="max_length must be >= 1"
            ),
            tf.debugging.assert_less_equal(
                max_length,
                decoding.MAX_LENGTH_CAP,
                message="max_length must be <= 2048",
            ),
        ]
        with tf.control_dependencies(checks):
            return {
                "translation": model_translator.translate(text, max_length, beam_width)
            }

    def attention(text):
        source_ids = model_translator.source_ids(text)
        target_ids, weights = model_translator.greedy(
            source_ids, length, with_attention=True
        )
        return {
            "translation": model_translator.text(source_ids, target_ids),
            "attention": weights,  # (batch, target step, source token)
            "source_tokens": tf.gather(
                tf.constant(["", "[UNK]", *meta["source_vocabulary"]]), source_ids
            ),
            "target_tokens": tf.gather(model_translator.target_tokens, target_ids),
        }

    text = [tf.TensorSpec([None], tf.string, name="text")]
    scalar = lambda name: tf.TensorSpec([], tf.int32, name=name)  # noqa: E731
    endpoints = [
        ("serving_default", serve, text),
        ("translate", translate, [*text, scalar("beam_width"), scalar("max_length")]),
        ("attention", attention, text),
    ]
    return endpoints, [model, model_translator.lookup]


def verification_requests(config):
    """Greedy and beam decoding, an empty input and unknown words."""
    texts = ["", "I am here.", "Zyxwv qqq!"]
    return [
        ("serving_default", {"text": texts}),
        ("translate", {"text": texts, "beam_width": 3, "max_length": 8}),
        ("attention", {"text": ["I am here."]}),
    ]
