"""Text to token ids inside the model, so that a SavedModel takes strings."""

import logging

import keras
import tensorflow as tf

from rnnkit.templates.text_encoder import TOKENIZATIONS  # noqa: F401  (re-exported)

log = logging.getLogger("rnnkit")


def text_vectorizer(tokenization, vocabulary_size, sequence_length, texts):
    """A `TextVectorization` layer adapted to `texts`: a list, or a batched
    `tf.data.Dataset` of strings, whose tokens are counted as they stream.

    Word mode lower-cases, strips punctuation and splits on whitespace;
    character mode lower-cases and keeps every character. Outputs are padded
    with 0 (which `Embedding(mask_zero=True)` masks) or truncated to
    `sequence_length` tokens.
    """
    word = tokenization == "word"
    layer = keras.layers.TextVectorization(
        max_tokens=vocabulary_size,
        standardize="lower_and_strip_punctuation" if word else "lower",
        split="whitespace" if word else "character",
        output_sequence_length=sequence_length,
        name="vectorizer",
    )
    streamed = isinstance(texts, tf.data.Dataset)
    layer.adapt(texts if streamed else list(texts), batch_size=256)
    return layer


def token_count(text, tokenization):
    return len(text.split()) if tokenization == "word" else len(text)


def warn_if_truncated(texts, tokenization, sequence_length, source):
    """Logs how many texts are longer than `sequence_length` tokens."""
    lengths = [token_count(t, tokenization) for t in texts]
    return warn_about_long_texts(lengths, sequence_length, source)


def warn_about_long_texts(lengths, limit, source, name="sequence_length", count=None):
    """Logs how many of the texts of `lengths` tokens exceed `limit`, of
    `count` texts (by default, `len(lengths)`); returns that count."""
    longer = [n for n in lengths if n > limit]
    if longer:
        log.warning(
            "%s: %d of %d texts are longer than %s=%d tokens (longest: %d) "
            "and are truncated",
            source,
            len(longer),
            len(lengths) if count is None else count,
            name,
            limit,
            max(longer),
        )
    return len(longer)
