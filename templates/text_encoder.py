"""Strings to token ids and back, inside the graph: one text path.

A `TextEncoder` is a Keras layer of TensorFlow string ops and a lookup
table. The templates compute their training ids with it and their
SavedModels take strings through the very same layer, so the text a model
is trained on and the text it serves are tokenised by the same code. (Python's
`str.split()` and `tf.strings.split()` disagree on U+00A0 and U+2003, for
example; here neither is asked.)

Word tokens are runs of anything but Unicode whitespace: spaces, tabs, line
breaks, U+00A0 and U+2003 all separate words. Character tokens are Unicode
code points, so a combining accent is a token of its own.
"""

import collections

import keras
import numpy as np
import tensorflow as tf

TOKENIZATIONS = ("word", "character")
# Unicode whitespace: RE2's \s is ASCII only, \p{Z} adds the space separators
# (U+00A0, U+2003, ...); U+0085, U+000B and U+001C..U+001F complete Python's.
WHITESPACE = r"[\s\p{Z}\x{85}\x{0B}\x{1C}-\x{1F}]+"
# Punctuation becomes its own word; letters of any script stay in words.
PUNCTUATION = r"([^\p{L}\p{N}\p{M}\s\p{Z}'])"
# Detokenising a punctuation-split text: no space before closing marks.
SPACE_BEFORE_CLOSING = r" ([.,!?;:%)\]}])"


@keras.saving.register_keras_serializable(package="rnnkit")
class TextEncoder(keras.layers.Layer):
    """Turns strings into token ids, and ids back into strings, in the graph.

    Id 0 is padding, id 1 the unknown token; any further `reserved` tokens
    (such as `[BOS]`) come next, then `vocabulary` in order.

    Args:
        tokenization: `"word"` (runs of non-whitespace, Unicode whitespace
            included) or `"character"` (Unicode code points).
        vocabulary: The known tokens, most frequent first.
        reserved: The tokens of the first ids: `("", "[UNK]", ...)`.
        lowercase: Lower-case the text first.
        split_punctuation: Word tokens only: punctuation marks become tokens
            of their own (`"Hi!"` is `["Hi", "!"]`).

    Call arguments:
        texts: A `(batch,)` string tensor.

    Returns:
        A `(batch, None)` ragged int32 tensor of token ids.

    Example:

    >>> encoder = TextEncoder("word", ["the", "cat"])
    >>> encoder(tf.constant(["the\\u00a0cat  sat"])).to_list()
    [[2, 3, 1]]
    """

    def __init__(
        self,
        tokenization="word",
        vocabulary=(),
        reserved=("", "[UNK]"),
        lowercase=False,
        split_punctuation=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if tokenization not in TOKENIZATIONS:
            raise ValueError(
                f"`tokenization` must be one of {TOKENIZATIONS}. "
                f"Received: tokenization={tokenization!r}"
            )
        if len(reserved) < 2 or reserved[0] != "":
            raise ValueError(
                '`reserved` must start with "" (padding) and an unknown token. '
                f"Received: reserved={tuple(reserved)!r}"
            )
        self.tokenization = tokenization
        self.reserved = tuple(reserved)
        self.vocabulary = [t for t in vocabulary if t not in self.reserved]
        self.lowercase = lowercase
        self.split_punctuation = split_punctuation
        self.lookup = keras.layers.StringLookup(
            vocabulary=[*self.reserved[2:], *self.vocabulary],
            mask_token="",
            oov_token=self.reserved[1],
        )
        self.token_strings = tf.constant(self.all_tokens())
        self.built = True  # no weights: the vocabulary is in the config

    @classmethod
    def adapt(cls, tokens, size, **kwargs):
        """An encoder whose vocabulary is the most frequent of `tokens`
        (strings or UTF-8 bytes, as `tokenize` gives them), `size` ids in
        all, reserved ones included; ties go to the token that sorts first."""
        return cls.from_counts(collections.Counter(tokens), size, **kwargs)

    @classmethod
    def from_counts(cls, counts, size, **kwargs):
        """As `adapt`, from `{token: count}` (a streaming count of tokens)."""
        reserved = tuple(kwargs.get("reserved", ("", "[UNK]")))
        counts = {
            (t.decode() if isinstance(t, bytes) else t): n
            for t, n in counts.items()
            if n > 0
        }
        ranked = sorted(counts, key=lambda token: (-counts[token], token))
        ranked = [t for t in ranked if t not in reserved]
        return cls(vocabulary=ranked[: max(0, size - len(reserved))], **kwargs)

    def all_tokens(self):
        """Every token, in id order: the reserved ones, then the vocabulary."""
        return [*self.reserved, *self.vocabulary]

    def __len__(self):
        return len(self.reserved) + len(self.vocabulary)

    @property
    def separator(self):
        """What joins tokens back into text."""
        return "" if self.tokenization == "character" else " "

    def tokenize(self, texts):
        """`(batch,)` strings to `(batch, None)` ragged token strings."""
        return tokenize(
            texts, self.tokenization, self.lowercase, self.split_punctuation
        )

    def ids(self, tokens):
        """Ragged token strings to ragged int32 ids."""
        return tf.cast(self.lookup(tokens), tf.int32)

    def call(self, texts):
        return self.ids(self.tokenize(texts))

    def tokens(self, ids):
        """`(batch, length)` ids to token strings; padding is ""."""
        return tf.gather(self.token_strings, ids)

    def detokenize(self, ids):
        """`(batch, length)` ids to strings; padding and reserved ids drop
        out."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        tokens = tf.where(ids < len(self.reserved), "", self.tokens(ids))
        if self.tokenization == "character":
            return tf.strings.reduce_join(tokens, axis=-1)
        ragged = tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, ""))
        text = tf.strings.reduce_join(ragged, axis=-1, separator=" ")
        if self.split_punctuation:
            text = tf.strings.regex_replace(text, SPACE_BEFORE_CLOSING, r"\1")
        return text

    def encode_texts(self, texts):
        """Python lists of ids, one per text, for building training arrays."""
        return [np.asarray(row, "int32") for row in self(tf.constant(texts)).to_list()]

    def compute_output_spec(self, texts):
        return keras.KerasTensor((texts.shape[0], None), dtype="int32", ragged=True)

    def get_config(self):
        return {
            **super().get_config(),
            "tokenization": self.tokenization,
            "vocabulary": list(self.vocabulary),
            "reserved": list(self.reserved),
            "lowercase": self.lowercase,
            "split_punctuation": self.split_punctuation,
        }


def tokenize(texts, tokenization, lowercase=False, split_punctuation=False):
    """`(batch,)` strings to `(batch, None)` ragged token strings: the
    splitting of `TextEncoder`, whose arguments these are."""
    texts = tf.convert_to_tensor(texts, tf.string)
    if lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    if tokenization == "character":
        return tf.strings.unicode_split(texts, "UTF-8")
    if split_punctuation:
        texts = tf.strings.regex_replace(texts, PUNCTUATION, r" \1 ")
    # Every run of Unicode whitespace becomes one ASCII space, which the
    # default split (on ASCII whitespace, dropping empty tokens) handles.
    return tf.strings.split(tf.strings.regex_replace(texts, WHITESPACE, " "))


def tokens_of(texts, tokenization, lowercase=False, split_punctuation=False):
    """The tokens of `texts` as `tokenize` splits them: one Python list of
    strings per text (for building a vocabulary)."""
    ragged = tokenize(
        tf.constant(list(texts), tf.string), tokenization, lowercase, split_punctuation
    )
    return [[t.decode() for t in row] for row in ragged.to_list()]


def tokenize_signature(encoder):
    """The `tokenize` signature of an export: `text` in, the `tokens` it is
    split into and their `token_ids` out (both padded), as the model sees
    them at training and at serving time."""
    from rnnkit.templates import export

    def tokenize_text(text):
        tokens = encoder.tokenize(text)
        return {
            "tokens": tokens.to_tensor(default_value=""),
            "token_ids": encoder.ids(tokens).to_tensor(default_value=0),
        }

    spec = tf.TensorSpec([None], tf.string, name="text")
    return export.Signature("tokenize", tokenize_text, [spec])
