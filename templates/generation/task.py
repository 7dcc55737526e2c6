"""Text generation (one-to-many): a recurrent language model learns to predict
the next token of a text, then writes new text one token at a time.

Trained with teacher forcing, the model reads `u_1 ... u_T` and predicts
`u_2 ... u_{T+1}`. To generate, it reads the prompt once, and its state
`x_t = f(W_xx x_{t-1} + W_xu u_t + b)` carries everything it has read to the
next step: each new token is one step of the cells, sampled inside the graph.

This file is yours to edit: `rnnkit new generation my_task` copies it. It
reads top to bottom: setup, configuration, data, model (with its search
space), training, inference and export. `LanguageModel.forward` is the
whole model: training and generation both call it, so an edit to it
changes both.
"""

# Setup ----------------------------------------------------------------------

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from rnnkit.layers import CELL_TYPES, get_layer
from rnnkit.templates import config as settings
from rnnkit.templates import (
    corpus_stream,
    decoding,
    evaluation,
    export,
    search_space,
    text_files,
)
from rnnkit.templates.baselines import compression_baselines
from rnnkit.templates.errors import DataError
from rnnkit.templates.language_model import BOS, PAD, RESERVED, TextGenerator
from rnnkit.templates.text_encoder import (
    TOKENIZATIONS,
    TextEncoder,
    tokenize,
    tokenize_signature,
)
from rnnkit.templates.training import optimizer

# Configuration --------------------------------------------------------------

TASK = "generation"
MONITOR, MONITOR_MODE = "val_loss", "min"  # early stopping
PRIMARY_METRIC, PRIMARY_MODE = "loss", "min"  # picks the best run to export


def check_config(config):
    settings.require(config, "tokenization", allowed=TOKENIZATIONS)
    settings.require(config, "cell", allowed=CELL_TYPES)
    # Below 4 ids the vocabulary would hold only the reserved tokens.
    settings.require(config, "vocabulary_size", minimum=len(RESERVED) + 1)
    for key in ("sequence_length", "stride", "embedding_dim", "units"):
        settings.require(config, key, minimum=1)
    for key in ("epochs", "batch_size"):
        settings.require(config, key, minimum=1)
    settings.require(config, "layers", minimum=1, maximum=8)
    settings.require(config, "dropout", minimum=0.0, maximum=0.9)
    settings.require(config, "validation_split", minimum=0.01, maximum=0.5)
    settings.require(config, "encoding_errors", allowed=text_files.ENCODING_ERRORS)
    settings.require(
        config, "sample_length", minimum=1, maximum=decoding.MAX_LENGTH_CAP
    )
    settings.require(config, "sample_temperature", minimum=1e-3)
    settings.require(config, "shuffle_buffer", minimum=1)
    search_space.check(config)


# Data -----------------------------------------------------------------------


@dataclasses.dataclass
class Data:
    encoder: TextEncoder  # the tokens and their ids, shared with serving
    train_ids: np.ndarray  # the training text as token ids (streaming: a CorpusPart)
    validation_ids: np.ndarray  # the text after it, or validation_data (likewise)
    source: str
    prompt: str  # the start of the validation text, for samples
    texts: tuple = ("", "")  # (train, validation): the tokens joined again


def read_tokens(config, folder, key):
    """The tokens of the text file (or folder) `config[key]`: a 1-D string
    tensor, split by the code that splits prompts at serving time."""
    text = text_files.read_corpus(folder / config[key], config["encoding_errors"])
    return tokenize([text], config["tokenization"]).flat_values


def require_window(ids, config, source):
    if len(ids) < config["sequence_length"] + 1:
        raise DataError(
            f"{source}: {len(ids)} tokens, shorter than one training window "
            f"(sequence_length={config['sequence_length']}, plus the next token)"
        )


def read_data(config, folder):
    """Token ids; validation is the end of the text, so none of it leaks into
    training windows."""
    if config["streaming"]:
        return read_streamed(config, folder)
    tokens = read_tokens(config, folder, "data")
    if config["validation_data"]:
        train, validation = tokens, read_tokens(config, folder, "validation_data")
    else:
        cut = round(len(tokens) * (1 - config["validation_split"]))
        train, validation = tokens[:cut], tokens[cut:]
    encoder = TextEncoder.adapt(
        train.numpy(),
        config["vocabulary_size"],
        tokenization=config["tokenization"],
        reserved=RESERVED,
    )
    train_text, validation_text = (
        encoder.separator.join(t.decode() for t in part.numpy())
        for part in (train, validation)
    )
    prompt = encoder.separator.join(t.decode() for t in validation[:20].numpy())
    data = Data(
        encoder,
        encoder.ids(train).numpy(),
        encoder.ids(validation).numpy(),
        str(folder / config["data"]),
        prompt[:40],
        (train_text, validation_text),
    )
    require_window(data.train_ids, config, data.source)
    require_window(data.validation_ids, config, f"{data.source} (validation part)")
    return data


def read_streamed(config, folder):
    """`streaming = true`: the text stays on disk. A checking pass counts its
    tokens (see `rnnkit.templates.streaming`); validation is the end of the
    text, split at the same token as in memory."""
    corpus_stream.require_streamable(config)
    corpus = corpus_stream.Corpus(
        folder / config["data"], config["encoding_errors"], config["tokenization"]
    )
    counts = corpus.count()
    if config["validation_data"]:
        held_out = corpus_stream.Corpus(
            folder / config["validation_data"],
            config["encoding_errors"],
            config["tokenization"],
        )
        held_out.count()
        train, validation = corpus.part(0, len(corpus)), held_out.part(0, len(held_out))
    else:
        cut = round(len(corpus) * (1 - config["validation_split"]))
        train, validation = corpus.part(0, cut), corpus.part(cut, len(corpus))
        counts -= validation.counts()  # the vocabulary is the training part's
    encoder = TextEncoder.from_counts(
        counts,
        config["vocabulary_size"],
        tokenization=config["tokenization"],
        reserved=RESERVED,
    )
    source = str(folder / config["data"])
    prompt = encoder.separator.join(validation.first_tokens(20))[:40]
    data = Data(encoder, train, validation, source, prompt, texts=None)
    require_window(data.train_ids, config, data.source)
    require_window(data.validation_ids, config, f"{data.source} (validation part)")
    return data


def windows(ids, length, stride):
    """Teacher forcing: inputs are BOS and the tokens before each target."""
    starts = range(0, len(ids) - length + 1, stride)
    targets = np.stack([ids[s : s + length] for s in starts])
    inputs = np.concatenate([np.full((len(targets), 1), BOS), targets[:, :-1]], 1)
    return inputs.astype("int32"), targets


def streams(ids, batch_size, length):
    """Truncated BPTT: `batch_size` contiguous streams, consecutive windows of
    each in consecutive batches, so that each row's state carries over."""
    ids = np.concatenate([[BOS], ids])
    per_stream = (len(ids) - 1) // batch_size // length * length
    if per_stream == 0:
        raise DataError(
            f"{len(ids) - 1} tokens cannot fill {batch_size} streams of one "
            f"{length}-token window; lower batch_size or sequence_length"
        )
    rows = [
        ids[b * per_stream : b * per_stream + per_stream + 1] for b in range(batch_size)
    ]
    rows = np.stack(rows)  # (batch, per_stream + 1)
    inputs = [rows[:, s : s + length] for s in range(0, per_stream, length)]
    targets = [rows[:, s + 1 : s + length + 1] for s in range(0, per_stream, length)]
    return np.concatenate(inputs).astype("int32"), np.concatenate(targets)


def datasets(config, data):
    length, batch = config["sequence_length"], config["batch_size"]
    if config["streaming"]:
        return streamed_datasets(config, data)

    def make(ids, shuffle):
        if config["stateful"]:
            pairs = streams(ids, batch, length)
            return tf.data.Dataset.from_tensor_slices(pairs).batch(
                batch, drop_remainder=True
            )
        pairs = windows(ids, length, config["stride"] if shuffle else length)
        ds = tf.data.Dataset.from_tensor_slices(pairs)
        if shuffle:
            ds = ds.shuffle(len(pairs[0]), seed=config["seed"])
        return ds.batch(batch).prefetch(tf.data.AUTOTUNE)

    return make(data.train_ids, shuffle=True), make(data.validation_ids, shuffle=False)


def streamed_datasets(config, data):
    """`datasets` when streaming: the same windows, read from disk; a buffer
    of `shuffle_buffer` windows shuffles the training ones."""
    length, batch = config["sequence_length"], config["batch_size"]
    train, validation = data.train_ids, data.validation_ids
    train = corpus_stream.windows(
        train.token_ids(data.encoder), len(train), length, config["stride"]
    )
    train = train.shuffle(config["shuffle_buffer"], seed=config["seed"])
    validation = corpus_stream.windows(
        validation.token_ids(data.encoder), len(validation), length, length
    )
    return (
        train.batch(batch).prefetch(tf.data.AUTOTUNE),
        validation.batch(batch).prefetch(tf.data.AUTOTUNE),
    )


def data_summary(data):
    return {
        "train_tokens": len(data.train_ids),
        "validation_tokens": len(data.validation_ids),
        "vocabulary_size": len(data.encoder),
    }


def read_examples(config, path):
    """A held-out text in pieces of `sequence_length` tokens, for evaluate."""
    return evaluation.read_corpus_pieces(config, path)


# Model ----------------------------------------------------------------------


def hyperparameters(hp, config):
    """The search space for `rnnkit tune`; every default is the config's."""
    return search_space.recurrent(hp, config)


class LanguageModel(keras.Model):
    """Token ids in, next-token logits out at every step.

    Args:
        encoder: The `TextEncoder` of the tokens (it travels with the model).
        embedding_dim, cell, units, layers, dropout: As in config.toml.
        stateful: Carry the states from batch to batch (truncated BPTT).
        cell_options: More arguments for each recurrent layer.
    """

    def __init__(
        self,
        encoder,
        embedding_dim,
        cell,
        units,
        layers,
        dropout,
        stateful=False,
        cell_options=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.layers.deserialize(encoder)
        self.encoder = encoder
        self.settings = dict(
            embedding_dim=embedding_dim,
            cell=cell,
            units=units,
            layers=layers,
            dropout=dropout,
            stateful=stateful,
            cell_options=cell_options or {},
        )
        self.embedding = keras.layers.Embedding(
            len(encoder), embedding_dim, mask_zero=True
        )
        self.recurrent = [
            get_layer(
                cell,
                units,
                return_sequences=True,
                return_state=True,
                stateful=stateful,
                **(cell_options or {}),
            )
            for _ in range(layers)
        ]
        self.dropout = keras.layers.Dropout(dropout)
        self.head = keras.layers.Dense(len(encoder))

    def forward(self, token_ids, states=None, training=False):
        """`(batch, time)` ids from `states` (None: x_0) to `(batch, time,
        vocabulary)` logits and the states after the last step."""
        mask = keras.ops.not_equal(token_ids, PAD)
        x = self.embedding(token_ids)
        new_states = []
        for layer, layer_states in zip(
            self.recurrent, states or [None] * len(self.recurrent)
        ):
            x, *layer_states = layer(
                x, initial_state=layer_states, mask=mask, training=training
            )
            new_states.append(layer_states)
        x = self.dropout(x, training=training)
        return self.head(x), new_states

    def build(self, token_ids_shape):
        # One step on a batch of BOS creates every weight (and a stateful
        # model's states), here and when a saved model is loaded.
        batch = token_ids_shape[0] or 1
        self.forward(keras.ops.full((batch, 1), BOS, "int32"))

    def call(self, token_ids, training=False):
        return self.forward(token_ids, training=training)[0]

    def get_config(self):
        encoder = keras.layers.serialize(self.encoder)
        return {**super().get_config(), "encoder": encoder, **self.settings}


def build_model(config, data):
    """Token ids in, next-token logits out at every step; compiled."""
    extra = {k: config[k] for k in ("reset_after", "unit_forget_bias") if k in config}
    model = LanguageModel(
        data.encoder,
        config["embedding_dim"],
        config["cell"],
        config["units"],
        config["layers"],
        config["dropout"],
        stateful=config["stateful"],
        cell_options=extra,
        name="language_model",
    )
    model.build((config["batch_size"] if config["stateful"] else None, None))
    model.compile(
        optimizer=optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


# Train ----------------------------------------------------------------------


class ResetStates(keras.callbacks.Callback):
    """Stateful training starts every epoch, and validation, from x_0."""

    def reset(self):
        for layer in self.model.recurrent:
            layer.reset_state()

    def on_epoch_begin(self, epoch, logs=None):
        self.reset()

    def on_test_begin(self, logs=None):
        self.reset()


def training_callbacks(config):
    return [ResetStates()] if config["stateful"] else []


# Inference ------------------------------------------------------------------


def validate(model, config, data, meta):
    """Loss on the validation windows, and samples from the serving code."""
    _, validation = datasets(config, data)
    loss = model.evaluate(validation, verbose=0)
    tokens = sum(int(np.prod(y.shape)) for _, y in validation)
    result = evaluation.language_metrics(loss, tokens, config["tokenization"])
    generate = serving(model, {**meta, "hyperparameters": config}).functions()
    prompts = tf.constant(["", data.prompt])
    options = dict(max_length=config["sample_length"], top_p=1.0, seed=config["seed"])
    greedy = generate["generate"](prompts, temperature=1.0, top_k=1, **options)
    temperature = config["sample_temperature"]
    sampled = generate["generate"](prompts, temperature=temperature, top_k=0, **options)
    result["samples"] = {
        name: [t.decode() for t in outputs["text"].numpy()]
        for name, outputs in (
            ("greedy", greedy),
            (f"temperature {temperature}", sampled),
        )
    }
    return result


def baselines(config, data):
    """General-purpose compressors given the training text: the bits a
    compressor spends on the validation text once it has read the training
    text (`8 * (|C(train + valid)| - |C(train)|)`), per token, and as `loss`
    in nats per token, the model's own measure. A model that does no better
    has learnt less from the data than bzip2 does. They need the text in
    memory: none when streaming."""
    if config["streaming"]:
        return []
    started = time.perf_counter()
    train, validation = data.texts
    per_char = compression_baselines(train, validation)
    seconds = (time.perf_counter() - started) / len(per_char)
    tokens = len(data.validation_ids)
    results = []
    for codec, bits in per_char.items():
        bits_per_token = bits * len(validation) / tokens
        results.append(
            {
                "name": f"{codec}, given the training text",
                "loss": bits_per_token * math.log(2),
                "bits_per_token": bits_per_token,
                "bits_per_char": bits,
                "seconds": seconds,
            }
        )
    return results


def evaluation_report(result, folder):
    lines = [
        f"== {name} ==\n" + "\n---\n".join(texts)
        for name, texts in result.get("samples", {}).items()
    ]
    (folder / "samples.txt").write_text("\n\n".join(lines) + "\n")


def recurrent_inputs(model, texts):
    """What the first recurrent layer reads for `texts`, for diagnose."""
    ids = TextGenerator(model.encoder, model.forward).token_ids(tf.constant(texts))
    tokens = [[model.encoder.all_tokens()[i] for i in row if i] for row in ids.numpy()]
    return model.recurrent[0], tokens, model.embedding(ids)


# Export ---------------------------------------------------------------------


def metadata(config, data, model):
    return {
        "vocabulary": data.encoder.vocabulary,
        "vocabulary_size": len(data.encoder),
        "tokenization": config["tokenization"],
    }


def inference_model(model):
    """The model itself, or for a stateful one a twin without state
    variables, which serves any batch size."""
    if not model.settings["stateful"]:
        return model
    twin = LanguageModel.from_config({**model.get_config(), "stateful": False})
    twin(np.zeros((1, 1), "int32"))
    twin.set_weights(model.get_weights())
    return twin


def serving(model, meta):
    """`serving_default`: `prompt` in, `text` out, sampled with the config's
    settings; `generate`: with every sampling option; `score`: a text's
    negative log-likelihood in nats and its token count; `tokenize`."""
    model = inference_model(model)
    generator = TextGenerator(model.encoder, model.forward)
    config = meta["hyperparameters"]
    defaults = {
        "max_length": config["sample_length"],
        "temperature": config["sample_temperature"],
        "top_k": 0,
        "top_p": 1.0,
        "seed": config["seed"],
    }

    def generate(prompt, max_length, temperature, top_k, top_p, seed):
        with tf.control_dependencies(
            decoding.assert_options(max_length, temperature, top_k, top_p)
        ):
            text = generator.generate(
                prompt, max_length, temperature, top_k, top_p, seed
            )
        return {"text": text}

    def serve(prompt):
        return generate(prompt, **defaults)

    def score(text):
        nats, tokens = generator.score(text)
        return {"nats": nats, "tokens": tokens}

    strings = lambda name: tf.TensorSpec([None], tf.string, name=name)  # noqa: E731
    scalar = lambda dtype, name: tf.TensorSpec([], dtype, name=name)  # noqa: E731
    options = [
        scalar(tf.int32, "max_length"),
        scalar(tf.float32, "temperature"),
        scalar(tf.int32, "top_k"),
        scalar(tf.float32, "top_p"),
        scalar(tf.int32, "seed"),
    ]
    sampled = {"max_length": 12, "temperature": 0.9, "top_p": 1.0, "seed": 7}
    prompts = ["", "The ", "\u2603 snow"]
    return export.Serving(
        model=model,
        signatures=[
            export.Signature("serving_default", serve, [strings("prompt")]),
            export.Signature(
                "generate", generate, [strings("prompt"), *options], defaults
            ),
            export.Signature("score", score, [strings("text")]),
            tokenize_signature(model.encoder),
        ],
        output="text",
        evaluation="likelihood",
        checks=[
            ("serving_default", {"prompt": ["A", ""]}),
            ("generate", {"prompt": prompts, **sampled, "top_k": 1}),
            ("generate", {"prompt": prompts, **sampled, "top_k": 5, "top_p": 0.9}),
            ("score", {"text": ["The end.", "", "\u2603"]}),
            ("tokenize", {"text": ["a\u00a0b c\u2003d\te\r\n", ""]}),
        ],
    )
