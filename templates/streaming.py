"""Data larger than memory: the user's files read as streams, for tf.data.

With `streaming = true` in a task's config, a template never holds its
examples in Python. It makes passes over the files instead:

1. a checking pass, before any training, that reads every line with the
   checks of `rnnkit.templates.text_files` (UTF-8, fields, labels) and
   counts what the template needs (rows, labels, tokens);
2. the vocabulary, from a streaming count of the tokens or from a seeded
   sample of `vocabulary_sample` lines;
3. each epoch, a `tf.data` pipeline that reads the files again.

Memory then grows with the vocabulary and the shuffle buffer, not with the
number of rows. A file that changes between the passes is caught: the
pipeline re-checks every line, and a bad one stops training with the error
that names its file and line (see `pipeline_errors`).

Here: lines, labelled rows and pairs, the hashed validation split, the
checking pass and the pipelines of labelled examples and of pairs. Plain
text for the generation template is `rnnkit.templates.corpus_stream`.
"""

import contextlib
import gzip
import hashlib
import itertools
import pathlib
import random
import zlib

import numpy as np

from rnnkit.templates import text_files
from rnnkit.templates.errors import DataError, RnnkitError

READ_BLOCK = 4096  # examples handed from Python to tf.data at a time
_failures = []  # errors raised inside a running pipeline (see below)


def lines(path, errors="strict"):
    """The lines of a UTF-8 text file (gzipped if `.gz`), each decoded with
    its line break; a byte that is not UTF-8 is the error of
    `text_files.decode`, with the same line, offset and column."""
    path = text_files.existing_path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a text file")
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    offset = 0
    try:
        with opener(path, "rb") as file:
            for number, raw in enumerate(file, 1):
                yield _decoded(raw, path, number, offset, errors)
                offset += len(raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataError(
            f"{path}: not a readable gzip file ({error}); re-compress it with "
            "gzip, or drop the .gz suffix if it is plain text"
        ) from None


def _decoded(raw, path, number, offset, errors):
    try:
        line = raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as error:
        at = error.start
        raise text_files.not_utf8(path, number, offset + at, at, raw[at]) from None
    return line[1:] if number == 1 and line.startswith(text_files.BOM) else line


def labelled_rows(path, text_column="text", label_column="label", errors="strict"):
    """`(where, text, label)` of each example of a CSV/TSV file or a folder of
    label subfolders (the layouts of `text_files.read_labelled`); `text` is
    None for a skipped (empty) one. `where` names the file and line."""
    path = text_files.existing_path(path)
    if not path.is_dir():
        rows = text_files.table_rows(
            lines(path, errors), path, text_column, label_column
        )
        for line, text, label in rows:
            yield f"{path}, line {line}", text, label
        return
    for folder in text_files.label_folders(path):
        for file in sorted(folder.glob("*.txt")):
            text = text_files.read_text(file, errors)
            yield str(file), (text if text.strip() else None), folder.name


def in_validation(text, fraction, seed):
    """Whether the streaming split holds `text` out for validation: a keyed
    hash of the text, so the split is the same on every pass and every
    machine, and a text repeated in the data is never on both sides."""
    digest = hashlib.blake2b(
        text.encode(), digest_size=8, key=str(seed).encode()
    ).digest()
    return int.from_bytes(digest, "big") < fraction * 2**64


class Reservoir:
    """A seeded uniform sample of at most `size` items of a stream
    (reservoir sampling): the vocabulary's sample of lines."""

    def __init__(self, size, seed):
        self.size = size
        self.items = []
        self.seen = 0
        self.rng = random.Random(seed)

    def add(self, item):
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif (index := self.rng.randrange(self.seen)) < self.size:
            self.items[index] = item


def checked(generator):
    """`generator` for a tf.data pipeline: an rnnkit error raised in it is
    kept, for `pipeline_errors` to give back once TensorFlow has wrapped
    it in an error of its own."""
    try:
        yield from generator
    except RnnkitError as error:
        _failures.append(error)
        raise


@contextlib.contextmanager
def pipeline_errors():
    """Within it, an rnnkit error raised by a `checked` generator inside a
    tf.data pipeline comes out as itself, not as the TensorFlow error that
    wraps it (whose message is a traceback)."""
    import tensorflow as tf

    _failures.clear()
    try:
        yield
    except tf.errors.OpError:
        if _failures:
            raise _failures.pop() from None
        raise


class LabelledStream:
    """Labelled examples that stay on disk: a file of `labelled_rows`, or
    the training or validation part of one.

    Iterating gives `(text, label)` of the part's examples; `scan` fills in
    what a pass counts (`count`, `skipped`, `labels`).

    Args:
        path: a CSV/TSV file or a folder of label subfolders.
        columns: `(text_column, label_column)` of a CSV/TSV file.
        errors: `encoding_errors`, as in the config.
        holdout: `(fraction, seed, held_out)` for a part of the file: the
            examples `in_validation` says are held out, or the others.
    """

    counts_labels = True  # a few labels, each counted by `scan`

    def __init__(self, path, columns, errors="strict", holdout=None):
        self.path = pathlib.Path(path)
        self.columns = columns
        self.errors = errors
        self.holdout = holdout
        self.source = str(self.path)
        if holdout and holdout[2]:
            self.source += " (validation split)"
        self.count = self.skipped = 0
        self.labels = {}  # label: examples

    def split(self, fraction, seed):
        """The training and validation parts of this file."""
        return tuple(
            type(self)(self.path, self.columns, self.errors, (fraction, seed, held))
            for held in (False, True)
        )

    def rows(self):
        return labelled_rows(self.path, *self.columns, self.errors)

    def holds(self, text):
        if self.holdout is None:
            return True
        fraction, seed, held_out = self.holdout
        return in_validation(text, fraction, seed) == held_out

    def __iter__(self):
        for _, text, label in self.rows():
            if text is not None and self.holds(text):
                yield text, label

    def __len__(self):
        return self.count


def scan(streams, visit=None):
    """The checking pass: reads the files of `streams` once each (the parts
    of a split file share a pass), checking every row, and counts each
    stream's examples, skipped rows and labels; `visit(stream, text, label)`
    sees every example."""
    passes = {}
    for stream in streams:
        split = stream.holdout and (stream.path, *stream.holdout[:2])
        passes.setdefault(split or id(stream), []).append(stream)
    for parts in passes.values():
        for _, text, label in parts[0].rows():
            if text is None:
                parts[0].skipped += 1  # the first part reports the file's
                continue
            for stream in parts:
                if not stream.holds(text):
                    continue
                stream.count += 1
                if stream.counts_labels:
                    stream.labels[label] = stream.labels.get(label, 0) + 1
                if visit is not None:
                    visit(stream, text, label)


def labelled_dataset(stream, label_ids, batch_size, shuffle_buffer=0, seed=None):
    """Batches of `(text, label id)` of `stream`, read from disk each epoch
    (`label_ids`: label -> id); a buffer of `shuffle_buffer` examples
    shuffles them, when given."""
    import tensorflow as tf

    def examples():
        # Python hands TensorFlow whole blocks of examples: one at a time,
        # the generator's overhead would be most of the pipeline's time.
        for block in batches(stream, READ_BLOCK):
            texts, labels = zip(*block)
            unknown = set(labels) - set(label_ids)
            if unknown:  # the file changed since the checking pass
                raise DataError(
                    f"{stream.source}: label(s) {sorted(unknown)} were not in "
                    "the file when training started; the file changed while "
                    "training"
                )
            yield list(texts), np.array([label_ids[x] for x in labels], "int32")

    ds = tf.data.Dataset.from_generator(
        lambda: checked(examples()),
        output_signature=(
            tf.TensorSpec((None,), tf.string),
            tf.TensorSpec((None,), tf.int32),
        ),
    )
    ds = ds.unbatch().apply(tf.data.experimental.assert_cardinality(len(stream)))
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def texts_dataset(stream):
    """The texts of `stream`, in blocks: what a vocabulary adapts to."""
    import tensorflow as tf

    return tf.data.Dataset.from_generator(
        lambda: checked(
            [text for text, _ in block] for block in batches(stream, READ_BLOCK)
        ),
        output_signature=tf.TensorSpec((None,), tf.string),
    )


def batches(items, size):
    """Lists of at most `size` of `items`, in order."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class PairStream(LabelledStream):
    """Parallel text that stays on disk: `(source, target)` pairs of a TSV
    file (`columns` None), or of two aligned files (`columns` is the target
    file's path), read as `parallel_text.read_pairs` reads them. The split
    hashes the source text, so a sentence is never on both sides."""

    counts_labels = False  # targets are as many as the pairs

    def rows(self):
        if self.columns is None:
            return pair_rows(self.path, self.errors)
        return aligned_rows(self.path, pathlib.Path(self.columns), self.errors)


def _pair(where, source, target):
    source, target = source.strip(), target.strip()
    return (where, source, target) if source and target else (where, None, None)


def pair_rows(path, errors="strict"):
    """`(where, source, target)` of each line of a `source<TAB>target` file;
    None, None for a line where either side is empty."""
    for number, line in enumerate(lines(path, errors), 1):
        line = line[:-1] if line.endswith("\n") else line
        if not line.strip():
            yield f"{path}, line {number}", None, None
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(
                f"{path}, line {number}: expected source<TAB>target; found no tab"
            )
        yield _pair(f"{path}, line {number}", fields[0], fields[1])


def aligned_rows(path, target_path, errors="strict"):
    """As `pair_rows`, of two files aligned line by line; files of different
    lengths are an error that gives both counts."""
    missing = object()
    pairs = itertools.zip_longest(
        lines(path, errors), lines(target_path, errors), fillvalue=missing
    )
    for number, (source, target) in enumerate(pairs, 1):
        if source is missing or target is missing:
            counts = [number - 1] * 2
            counts[source is missing] += 1 + sum(1 for _ in pairs)
            raise DataError(
                f"{path} has {counts[0]} lines but {target_path} has "
                f"{counts[1]}; the files must be aligned line by line"
            )
        yield _pair(f"{path}, line {number}", source, target)
