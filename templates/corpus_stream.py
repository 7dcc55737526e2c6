"""Plain text larger than memory, for the generation template: a corpus
read from disk in chunks of whole lines, its tokens counted as they stream,
and the training windows of a token stream made in the graph.

See `rnnkit.templates.streaming` for the passes a streaming template makes.
"""

import collections
import itertools
import math
import pathlib

import numpy as np

from rnnkit.templates import streaming, text_files
from rnnkit.templates.errors import ConfigError, DataError

CHUNK_CHARS = 1 << 16  # text handed to the tokeniser at a time


def corpus_chunks(path, errors="strict"):
    """The text of `text_files.read_corpus` (one file, or a folder's `.txt`
    files in name order, joined by blank lines) in pieces of about
    `CHUNK_CHARS` characters that end at line breaks, so that no word is cut
    in two."""
    path = text_files.existing_path(path)
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    started = False
    for file in files:
        leading = []  # a file's first lines, until one holds text
        for chunk in _chunks(streaming.lines(file, errors)):
            if leading is not None:
                leading.append(chunk)
                if not chunk.strip():
                    continue
                chunk = ("\n\n" if started else "") + "".join(leading)
                leading, started = None, True
            yield chunk


def _chunks(line_iterator):
    piece, size = [], 0
    for line in line_iterator:
        piece.append(line)
        size += len(line)
        if size >= CHUNK_CHARS:
            yield "".join(piece)
            piece, size = [], 0
    if piece:
        yield "".join(piece)


def require_streamable(config):
    """Settings that need the data in memory, refused when streaming."""
    if config.get("stateful"):
        raise ConfigError(
            f"{config.source}: stateful training cuts the text into batch_size "
            "streams read side by side, which needs it in memory; set "
            "streaming = false, or stateful = false"
        )


class Corpus:
    """A plain text (a file, or a folder's `.txt` files) whose tokens are
    counted as it streams, and read in parts: see `part`.

    Args:
        path: the file or folder, as `text_files.read_corpus` reads it.
        errors: `encoding_errors`, as in the config.
        tokenization: `"word"` or `"character"`, split as the templates'
            `TextEncoder` splits text.
    """

    def __init__(self, path, errors, tokenization):
        self.path = pathlib.Path(path)
        self.errors = errors
        self.tokenization = tokenization
        self.chunk_sizes = []  # tokens per chunk, from `count`

    def __len__(self):
        return sum(self.chunk_sizes)

    def chunks(self, first=0):
        return itertools.islice(corpus_chunks(self.path, self.errors), first, None)

    def tokens(self, chunk):
        from rnnkit.templates.text_encoder import tokenize

        return tokenize([chunk], self.tokenization).flat_values.numpy()

    def count(self):
        """The checking pass: every token counted (`{token: count}`)."""
        counts = collections.Counter()
        self.chunk_sizes = []
        for chunk in self.chunks():
            tokens = self.tokens(chunk)
            self.chunk_sizes.append(len(tokens))
            counts.update(dict(zip(*np.unique(tokens, return_counts=True))))
        if not any(self.chunk_sizes):
            raise DataError(
                f"{self.path}: no text (empty, whitespace only, or no .txt files)"
            )
        return counts

    def part(self, start, stop):
        """Its tokens `start` to `stop` (`count` first)."""
        return CorpusPart(self, start, stop)


class CorpusPart:
    """Tokens `start` to `stop` of a `Corpus`: the training or the
    validation part of a text."""

    def __init__(self, corpus, start, stop):
        self.corpus, self.start, self.stop = corpus, start, stop

    def __len__(self):
        return self.stop - self.start

    def _first_chunk(self):
        """The chunk holding token `start`, and `start`'s offset in it."""
        offset = self.start
        for index, size in enumerate(self.corpus.chunk_sizes):
            if offset < size:
                return index, offset
            offset -= size
        return len(self.corpus.chunk_sizes), offset

    def _tokens(self):
        first, offset = self._first_chunk()
        left = len(self)
        for chunk in self.corpus.chunks(first):
            tokens = self.corpus.tokens(chunk)[offset : offset + left]
            offset, left = 0, left - len(tokens)
            yield tokens
            if left <= 0:
                return

    def counts(self):
        """`{token: count}` of this part (a pass over it alone)."""
        counts = collections.Counter()
        for tokens in self._tokens():
            counts.update(dict(zip(*np.unique(tokens, return_counts=True))))
        return counts

    def first_tokens(self, n):
        tokens = next(self._tokens(), np.array([], object))
        return [t.decode() for t in tokens[:n]]

    def token_ids(self, encoder):
        """A `tf.data.Dataset` of this part's token ids, one at a time."""
        import tensorflow as tf

        first, offset = self._first_chunk()
        ds = tf.data.Dataset.from_generator(
            lambda: streaming.checked(self.corpus.chunks(first)),
            output_signature=tf.TensorSpec((), tf.string),
        )
        ds = ds.map(lambda chunk: encoder(tf.reshape(chunk, [1])).flat_values)
        return ds.unbatch().skip(offset).take(len(self))


def windows(ids, tokens, length, stride):
    """`(inputs, targets)` of the windows of `length` tokens that start every
    `stride` tokens of the id stream `ids` (a tf.data.Dataset of `tokens`
    ids), as the
    generation template's in-memory `windows` makes them: targets are the
    window, inputs BOS then the window but its last token. In the graph: a
    scan slides over blocks of `gcd(length, stride)` tokens."""
    import tensorflow as tf

    from rnnkit.templates.language_model import BOS

    block = math.gcd(length, stride)
    blocks = ids.batch(block, drop_remainder=True)
    kept = length - block  # the tokens a window shares with the next block

    def slide(state, new):
        window = tf.concat([state, new], 0)
        return window[block:], window

    windows_ = blocks.scan(tf.zeros([kept], tf.int32), slide)
    # The window ending with block j starts at (j + 1) * block - length.
    windows_ = windows_.skip(length // block - 1).shard(stride // block, 0)
    windows_ = windows_.map(lambda window: (tf.concat([[BOS], window[:-1]], 0), window))
    count = (tokens - length) // stride + 1 if tokens >= length else 0
    return windows_.apply(tf.data.experimental.assert_cardinality(count))
