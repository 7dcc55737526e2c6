"""Text generation (one-to-many): a recurrent language model learns to predict
the next token of a text, then writes new text one token at a time.

Trained with teacher forcing, the model reads `u_1 ... u_T` and predicts
`u_2 ... u_{T+1}`. To generate, it reads the prompt once, and its state
`x_t = f(W_xx x_{t-1} + W_xu u_t + b)` carries everything it has read to the
next step: each new token is one step of the cells, sampled inside the graph.

This file is yours to edit: `rnnkit new generation my_task` copies it. It
reads top to bottom: setup, configuration, data, model (with its search
space), training, inference and export.
"""

# Setup ----------------------------------------------------------------------

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from rnnkit.layers import CELL_TYPES, get_layer
from rnnkit.templates import config as settings
from rnnkit.templates import decoding, search_space, text_files, vectorize
from rnnkit.templates.errors import ConfigError, DataError
from rnnkit.templates.language_model import BOS, TextGenerator, Vocabulary, split_tokens
from rnnkit.templates.training import optimizer

# Configuration --------------------------------------------------------------

TASK = "generation"
MONITOR, MONITOR_MODE = "val_loss", "min"  # early stopping
PRIMARY_METRIC, PRIMARY_MODE = "loss", "min"  # picks the best run to export


def check_config(config):
    settings.require(config, "tokenization", allowed=vectorize.TOKENIZATIONS)
    settings.require(config, "cell", allowed=CELL_TYPES)
    for key in (
        "vocabulary_size",
        "sequence_length",
        "stride",
        "embedding_dim",
        "units",
        "epochs",
        "batch_size",
    ):
        settings.require(config, key, minimum=1)
    settings.require(config, "layers", minimum=1, maximum=8)
    settings.require(config, "dropout", minimum=0.0, maximum=0.9)
    settings.require(config, "validation_split", minimum=0.01, maximum=0.5)
    settings.require(config, "encoding_errors", allowed=text_files.ENCODING_ERRORS)
    settings.require(
        config, "sample_length", minimum=1, maximum=decoding.MAX_LENGTH_CAP
    )
    settings.require(config, "sample_temperature", minimum=1e-3)
    search_space.check(config)


# Data -----------------------------------------------------------------------


@dataclasses.dataclass
class Data:
    vocabulary: Vocabulary
    train_ids: np.ndarray  # the training text as token ids
    validation_ids: np.ndarray  # the text after it, or validation_data
    source: str
    prompt: str  # the start of the validation text, for samples


def require_window(ids, config, source):
    if len(ids) < config["sequence_length"] + 1:
        raise DataError(
            f"{source}: {len(ids)} tokens, shorter than one training window "
            f"(sequence_length={config['sequence_length']}, plus the next token)"
        )


def read_data(config, folder):
    """Token ids; validation is the end of the text, so none of it leaks into
    training windows."""
    read = lambda path: text_files.read_corpus(folder / path, config["encoding_errors"])  # noqa: E731
    tokens = split_tokens(read(config["data"]), config["tokenization"])
    if config["validation_data"]:
        train = tokens
        validation = split_tokens(
            read(config["validation_data"]), config["tokenization"]
        )
    else:
        cut = round(len(tokens) * (1 - config["validation_split"]))
        train, validation = tokens[:cut], tokens[cut:]
    vocabulary = Vocabulary.build(train, config["vocabulary_size"])
    separator = "" if config["tokenization"] == "character" else " "
    data = Data(
        vocabulary,
        vocabulary.encode(train),
        vocabulary.encode(validation),
        str(folder / config["data"]),
        separator.join(validation[:20])[:40],
    )
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


def data_summary(data):
    return {
        "train_tokens": len(data.train_ids),
        "validation_tokens": len(data.validation_ids),
        "vocabulary_size": len(data.vocabulary),
    }


# Model ----------------------------------------------------------------------


def hyperparameters(hp, config):
    """The search space for `rnnkit tune`; every default is the config's."""
    return search_space.recurrent(hp, config)


def build_model(config, data):
    """Token ids in, next-token logits out at every step; compiled."""
    batch = config["batch_size"] if config["stateful"] else None
    vocabulary = len(data.vocabulary)
    ids = keras.Input(batch_shape=(batch, None), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(
        vocabulary, config["embedding_dim"], mask_zero=True, name="embedding"
    )(ids)
    extra = {k: config[k] for k in ("reset_after", "unit_forget_bias") if k in config}
    for depth in range(config["layers"]):
        x = get_layer(
            config["cell"],
            config["units"],
            return_sequences=True,
            stateful=config["stateful"],
            name=f"recurrent_{depth}",
            **extra,
        )(x)
    x = keras.layers.Dropout(config["dropout"])(x)
    logits = keras.layers.Dense(vocabulary, name="logits")(x)  # (batch, time, vocab)
    model = keras.Model(ids, logits, name="language_model")
    model.compile(
        optimizer=optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


# Train ----------------------------------------------------------------------


class ResetStates(keras.callbacks.Callback):
    """Stateful training starts every epoch, and validation, from x_0."""

    def reset(self):
        for layer in self.model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    def on_epoch_begin(self, epoch, logs=None):
        self.reset()

    def on_test_begin(self, logs=None):
        self.reset()


def training_callbacks(config):
    return [ResetStates()] if config["stateful"] else []


# Inference ------------------------------------------------------------------


def language_metrics(nats, tokens, tokenization):
    loss = nats / tokens
    result = {
        "loss": loss,
        "perplexity": math.exp(loss),
        "bits_per_token": loss / math.log(2),
        "tokens": int(tokens),
    }
    if tokenization == "character":
        result["bits_per_char"] = result["bits_per_token"]
    return result


def generator(model, meta):
    return TextGenerator(model, Vocabulary(meta["vocabulary"]), meta["tokenization"])


def generate(model, meta, prompts, max_length, **options):
    """Continues `prompts` with the Keras model, in a compiled graph."""
    run = tf.function(generator(model, meta).generate)
    return [
        t.decode() for t in run(tf.constant(prompts), max_length, **options).numpy()
    ]


def validate(model, config, data, meta):
    _, validation = datasets(config, data)
    loss = model.evaluate(validation, verbose=0)
    tokens = sum(int(np.prod(y.shape)) for _, y in validation)
    result = language_metrics(loss * tokens, tokens, config["tokenization"])
    prompts = ["", data.prompt]
    length, temperature = config["sample_length"], config["sample_temperature"]
    result["samples"] = {
        "greedy": generate(model, meta, prompts, length, greedy=True),
        f"temperature {temperature}": generate(
            model, meta, prompts, length, temperature=temperature, seed=config["seed"]
        ),
    }
    return result


def evaluation_report(result, folder):
    lines = [
        f"== {name} ==\n" + "\n---\n".join(texts)
        for name, texts in result["samples"].items()
    ]
    (folder / "samples.txt").write_text("\n\n".join(lines) + "\n")


def keras_scorer(model, meta):
    score = tf.function(generator(model, meta).score)
    return lambda texts: [v.numpy() for v in score(tf.constant(texts))]


def saved_model_scorer(signatures, meta):
    def score(texts):
        outputs = signatures["score"](text=tf.constant(texts))
        return outputs["nats"].numpy(), outputs["tokens"].numpy()

    return score


def evaluate_file(score, config, path, meta):
    """Loss, perplexity and bits per token on a held-out text, scored in
    pieces of `sequence_length` tokens."""
    tokens = split_tokens(
        text_files.read_corpus(path, config["encoding_errors"]), config["tokenization"]
    )
    separator = "" if config["tokenization"] == "character" else " "
    length = config["sequence_length"]
    pieces = [
        separator.join(tokens[i : i + length]) for i in range(0, len(tokens), length)
    ]
    nats = count = 0.0
    for start in range(0, len(pieces), 64):
        batch_nats, batch_count = score(pieces[start : start + 64])
        nats, count = (
            nats + float(np.sum(batch_nats)),
            count + float(np.sum(batch_count)),
        )
    return language_metrics(nats, count, config["tokenization"])


OPTIONS = ("max_length", "temperature", "top_k", "top_p", "seed", "greedy")


def request(texts, options, meta):
    """`prompt_only` with the export's defaults, or `serving_default` with
    every option (greedy is top_k=1)."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown generation options {unknown}. Known: {OPTIONS}")
    prompts = tf.constant(texts, dtype=tf.string)
    if not options:
        return "prompt_only", {"prompt": prompts}
    config = meta["hyperparameters"]
    full = {
        "max_length": config["sample_length"],
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": 0,
        **options,
    }
    if full.pop("greedy", False):
        full["top_k"] = 1
    try:
        decoding.check_options(
            full["max_length"], full["temperature"], full["top_k"], full["top_p"]
        )
    except ValueError as error:
        raise ConfigError(str(error)) from None
    types = {"temperature": tf.float32, "top_p": tf.float32}
    inputs = {k: tf.constant(v, types.get(k, tf.int32)) for k, v in full.items()}
    return "serving_default", {"prompt": prompts, **inputs}


def format_prediction(text, outputs, index, meta, as_json):
    generated = outputs["text"][index].decode()
    return {"prompt": text, "text": generated} if as_json else generated


# Export ---------------------------------------------------------------------


def metadata(config, data, model):
    return {
        "vocabulary": data.vocabulary.tokens,
        "vocabulary_size": len(data.vocabulary),
        "tokenization": config["tokenization"],
    }


def serving(model, meta):
    """`serving_default`: prompt and sampling options in, `text` out;
    `prompt_only`: the same with the config's defaults; `score`: a text's
    negative log-likelihood in nats and its token count."""
    text_generator = generator(model, meta)
    config = meta["hyperparameters"]

    def serve(prompt, max_length, temperature, top_k, top_p, seed):
        with tf.control_dependencies(
            decoding.assert_options(max_length, temperature, top_k, top_p)
        ):
            text = text_generator.generate(
                prompt, max_length, temperature, top_k, top_p, seed
            )
        return {"text": text}

    def prompt_only(prompt):
        text = text_generator.generate(
            prompt, config["sample_length"], config["sample_temperature"], 0, 1.0, 0
        )
        return {"text": text}

    def score(text):
        nats, tokens = text_generator.score(text)
        return {"nats": nats, "tokens": tokens}

    strings = lambda name: tf.TensorSpec([None], tf.string, name=name)  # noqa: E731
    scalar = lambda dtype, name: tf.TensorSpec([], dtype, name=name)  # noqa: E731
    full = [
        strings("prompt"),
        scalar(tf.int32, "max_length"),
        scalar(tf.float32, "temperature"),
        scalar(tf.int32, "top_k"),
        scalar(tf.float32, "top_p"),
        scalar(tf.int32, "seed"),
    ]
    endpoints = [
        ("serving_default", serve, full),
        ("prompt_only", prompt_only, [strings("prompt")]),
        ("score", score, [strings("text")]),
    ]
    return endpoints, [model, text_generator.lookup]


def verification_requests(config):
    """Greedy and seeded sampling, an empty prompt and unknown characters."""
    prompts = ["", "The ", "\u2603 snow"]
    options = {"max_length": 12, "temperature": 0.9, "top_p": 1.0, "seed": 7}
    return [
        ("serving_default", {"prompt": prompts, **options, "top_k": 1}),
        ("serving_default", {"prompt": prompts, **options, "top_k": 5, "top_p": 0.9}),
        ("prompt_only", {"prompt": ["A"]}),
        ("score", {"text": ["The end.", "", "\u2603"]}),
    ]
