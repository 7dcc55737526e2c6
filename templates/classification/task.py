"""Text classification (many-to-one): a recurrent network reads a text and
says which label it belongs to.

The sequence `u_1 ... u_T` of token embeddings drives the state
`x_t = f(W_xx x_{t-1} + W_xu u_t + b)`. The states are pooled over time (the
largest and the mean value of each, or only the final state `x_T`), and what
is pooled feeds a softmax over the labels.

This file is yours to edit: `rnnkit new classification my_task` copies it.
It reads top to bottom: setup, configuration, data, model (with its search
space), training, inference and export. The machinery it shares with the
other templates lives in `rnnkit.templates`.
"""

# Setup ----------------------------------------------------------------------

import dataclasses

import keras
import tensorflow as tf

from rnnkit.layers import CELL_TYPES, Bidirectional, get_layer
from rnnkit.layers.recurrent import Recurrent
from rnnkit.templates import config as settings
from rnnkit.templates import (
    evaluation,
    export,
    metrics,
    search_space,
    streaming,
    text_files,
    vectorize,
)
from rnnkit.templates.baselines import tfidf_linear_svm, tfidf_logistic_regression
from rnnkit.templates.errors import DataError
from rnnkit.templates.labels import LabelSet, split_validation
from rnnkit.templates.pooling import MaxAndMeanPooling
from rnnkit.templates.training import optimizer

# Configuration --------------------------------------------------------------

TASK = "classification"
MONITOR, MONITOR_MODE = "val_accuracy", "max"  # early stopping
PRIMARY_METRIC, PRIMARY_MODE = "accuracy", "max"  # picks the best run to export
POOLINGS = ("max_and_mean", "last")


def check_config(config):
    settings.require(config, "tokenization", allowed=vectorize.TOKENIZATIONS)
    settings.require(config, "cell", allowed=CELL_TYPES)
    settings.require(config, "pooling", allowed=POOLINGS)
    # Padding and [UNK] take two ids: a vocabulary needs a third.
    settings.require(config, "vocabulary_size", minimum=3)
    for key in ("sequence_length", "embedding_dim", "units"):
        settings.require(config, key, minimum=1)
    settings.require(config, "layers", minimum=1, maximum=8)
    settings.require(config, "dropout", minimum=0.0, maximum=0.9)
    settings.require(config, "embedding_dropout", minimum=0.0, maximum=0.9)
    settings.require(config, "validation_split", minimum=0.01, maximum=0.5)
    settings.require(config, "epochs", minimum=1)
    settings.require(config, "batch_size", minimum=1)
    settings.require(config, "encoding_errors", allowed=text_files.ENCODING_ERRORS)
    settings.require(config, "vocabulary_sample", minimum=0)
    settings.require(config, "shuffle_buffer", minimum=1)
    search_space.check(config)


# Data -----------------------------------------------------------------------


@dataclasses.dataclass
class Data:
    train: text_files.LabelledTexts  # a streaming.LabelledStream when streaming
    validation: text_files.LabelledTexts  # (likewise)
    labels: LabelSet
    vocabulary_texts: object = None  # what the vocabulary adapts to


def read_labelled(config, path):
    return text_files.read_labelled(
        path, config["text_column"], config["label_column"], config["encoding_errors"]
    )


def read_data(config, folder):
    """The training and validation texts, checked before any training."""
    if config["streaming"]:
        return read_streamed(config, folder)
    examples = read_labelled(config, folder / config["data"])
    if config["validation_data"]:
        train = examples
        validation = read_labelled(config, folder / config["validation_data"])
    else:
        seed = config["seed"]
        train, validation = split_validation(examples, config["validation_split"], seed)
    labels = check_labels(train, validation)
    for part in (train, validation):
        vectorize.warn_if_truncated(
            part.texts, config["tokenization"], config["sequence_length"], part.source
        )
    return Data(train, validation, labels, train.texts)


def check_labels(train, validation):
    """The labels of `train`: at least two, and every validation label."""
    labels = LabelSet(train.labels)
    if len(labels) < 2:
        raise DataError(
            f"{train.source}: only one label ({labels.labels[0]!r}); a classifier "
            "needs at least two"
        )
    labels.encode(validation.labels, validation.source)  # no label only in validation
    return labels


def read_streamed(config, folder):
    """`streaming = true`: the examples stay on disk. One checking pass
    reads every row (see `rnnkit.templates.streaming`); validation is
    `validation_data`, or the rows whose text hashes into the held-out
    `validation_split` (not stratified by label)."""
    columns = (config["text_column"], config["label_column"])
    errors = config["encoding_errors"]
    train = streaming.LabelledStream(folder / config["data"], columns, errors)
    if config["validation_data"]:
        path = folder / config["validation_data"]
        validation = streaming.LabelledStream(path, columns, errors)
    else:
        train, validation = train.split(config["validation_split"], config["seed"])
    sample = streaming.Reservoir(config["vocabulary_sample"], config["seed"])
    lengths = {train: [], validation: []}  # only of texts that will be truncated

    def visit(part, text, label):
        if part is train and sample.size:
            sample.add(text)
        length = vectorize.token_count(text, config["tokenization"])
        if length > config["sequence_length"]:
            lengths[part].append(length)

    streaming.scan([train, validation], visit)
    text_files.require_rows(train.count, train.source, train.skipped)
    if not validation.count:
        raise DataError(
            f"{train.source}: too few examples to hold any out for validation"
        )
    for part in (train, validation):
        vectorize.warn_about_long_texts(
            lengths[part], config["sequence_length"], part.source, count=part.count
        )
    labels = check_labels(train, validation)
    vocabulary = sample.items if sample.size else streaming.texts_dataset(train)
    return Data(train, validation, labels, vocabulary)


def dataset(config, texts, label_ids, shuffle=False):
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(texts), label_ids))
    if shuffle:
        ds = ds.shuffle(len(texts), seed=config["seed"], reshuffle_each_iteration=True)
    return ds.batch(config["batch_size"]).prefetch(tf.data.AUTOTUNE)


def datasets(config, data):
    if config["streaming"]:
        ids = {label: i for i, label in enumerate(data.labels.labels)}
        batch, buffer, seed = (
            config["batch_size"],
            config["shuffle_buffer"],
            config["seed"],
        )
        return (
            streaming.labelled_dataset(data.train, ids, batch, buffer, seed),
            streaming.labelled_dataset(data.validation, ids, batch),
        )
    train_ids = data.labels.encode(data.train.labels, data.train.source)
    val_ids = data.labels.encode(data.validation.labels, data.validation.source)
    return (
        dataset(config, data.train.texts, train_ids, shuffle=True),
        dataset(config, data.validation.texts, val_ids),
    )


# Model ----------------------------------------------------------------------


def hyperparameters(hp, config):
    """The search space for `rnnkit tune`; every default is the config's."""
    chosen = search_space.recurrent(hp, config)
    chosen["bidirectional"] = search_space.choice(hp, config, "bidirectional")
    return chosen


def recurrent_stack(config, x):
    """`layers` recurrent layers, pooled over time: all return sequences, but
    the last one when only its final state is kept (`pooling = "last"`)."""
    extra = {k: config[k] for k in ("reset_after", "unit_forget_bias") if k in config}
    pool_last = config["pooling"] == "last"
    for depth in range(config["layers"]):
        last = depth == config["layers"] - 1
        layer = get_layer(
            config["cell"],
            config["units"],
            return_sequences=not (last and pool_last),
            **extra,
        )
        if config["bidirectional"]:
            layer = Bidirectional(layer)
        x = layer(x)
    return x if pool_last else MaxAndMeanPooling()(x)


def build_model(config, data):
    """Strings in, label probabilities out; compiled."""
    vectorizer = vectorize.text_vectorizer(
        config["tokenization"],
        config["vocabulary_size"],
        config["sequence_length"],
        data.vocabulary_texts,
    )
    text = keras.Input(shape=(), dtype="string", name="text")
    token_ids = vectorizer(text)  # (batch, sequence_length), 0 = padding
    x = keras.layers.Embedding(
        vectorizer.vocabulary_size(), config["embedding_dim"], mask_zero=True
    )(token_ids)
    # Drops whole features of the embedding for a text: the rest must carry
    # the meaning, which keeps a small data set from being memorised.
    x = keras.layers.SpatialDropout1D(config["embedding_dropout"])(x)
    x = recurrent_stack(config, x)  # (batch, features)
    x = keras.layers.Dropout(config["dropout"])(x)
    probabilities = keras.layers.Dense(len(data.labels), activation="softmax")(x)
    model = keras.Model(text, probabilities, name="classifier")
    model.compile(
        optimizer=optimizer(config),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# Train: `rnnkit.templates.workflow.train` fits `build_model` on `datasets`
# with early stopping on MONITOR, then calls `validate`.


def data_summary(data):
    return {"train_examples": len(data.train), "skipped_lines": data.train.skipped}


# Inference ------------------------------------------------------------------


def read_examples(config, path):
    """Labelled texts in the task's format, for `rnnkit evaluate`."""
    return read_labelled(config, path)


def validate(model, config, data, meta):
    """Accuracy, macro-F1 and the confusion matrix on the validation texts,
    computed through the serving signature."""
    api = serving(model, {**meta, "hyperparameters": config})
    return evaluation.evaluate(api.functions(), api.describe(), data.validation, meta)


def baselines(config, data):
    """The simple models a recurrent classifier must beat, fitted on the
    same split: TF-IDF with logistic regression, and word-plus-character
    TF-IDF with a linear SVM (scikit-learn). They need the texts in memory:
    none when streaming."""
    if config["streaming"]:
        return []
    split = (data.train.texts, data.train.labels)
    split += (data.validation.texts, data.validation.labels)
    seed = config["seed"]
    return [tfidf_logistic_regression(*split, seed), tfidf_linear_svm(*split, seed)]


def evaluation_report(result, folder):
    """Writes what `validate` found as pictures: the confusion matrix."""
    metrics.plot_confusion_matrix(result, folder / "confusion_matrix.png")


def recurrent_inputs(model, texts):
    """What the first recurrent layer reads for `texts`, for diagnose."""
    vectorizer = model.get_layer("vectorizer")
    ids = vectorizer(tf.constant(texts))
    vocabulary = vectorizer.get_vocabulary()
    tokens = [[vocabulary[i] for i in row if i] for row in ids.numpy()]
    embedding = next(
        layer for layer in model.layers if isinstance(layer, keras.layers.Embedding)
    )
    first = next(
        layer
        for layer in model.layers
        if isinstance(getattr(layer, "forward_layer", layer), Recurrent)
    )
    return getattr(first, "forward_layer", first), tokens, embedding(ids)


# Export ---------------------------------------------------------------------


def metadata(config, data, model):
    """What `assets/rnnkit.json` records beyond the config and metrics."""
    return {
        "labels": data.labels.labels,
        "tokenization": config["tokenization"],
        "vocabulary_size": model.get_layer("vectorizer").vocabulary_size(),
    }


def serving(model, meta):
    """`serving_default`: `text` (tf.string) in, `label` and `probabilities`
    out; `tokenize`: the ids the model reads."""
    labels = tf.constant(meta["labels"])
    vectorizer = model.get_layer("vectorizer")
    vocabulary = tf.constant(vectorizer.get_vocabulary())

    def serve(text):
        probabilities = model(text, training=False)
        return {
            "label": tf.gather(labels, tf.argmax(probabilities, axis=-1)),
            "probabilities": probabilities,
        }

    def tokenize(text):
        ids = tf.cast(vectorizer(text), tf.int32)
        return {"token_ids": ids, "tokens": tf.gather(vocabulary, ids)}

    text = [tf.TensorSpec([None], tf.string, name="text")]
    long_text = " ".join(["word"] * (2 * meta["hyperparameters"]["sequence_length"]))
    return export.Serving(
        model=model,
        signatures=[
            export.Signature("serving_default", serve, text),
            export.Signature("tokenize", tokenize, text),
        ],
        output="label",
        evaluation="labels",
        labelled_outputs={"probabilities": "labels"},
        # Odd batch sizes, an empty text, a text longer than
        # sequence_length and an out-of-vocabulary one.
        checks=[
            ("serving_default", {"text": ["a first example", "", "zzqxj vvkpt"]}),
            ("serving_default", {"text": [long_text, "another", "x", "y z", "end"]}),
            ("tokenize", {"text": ["a\u00a0b c\u2003d", ""]}),
        ],
    )
