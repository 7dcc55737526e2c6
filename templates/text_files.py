"""Reading the user's text files, with errors that name the file and line.

Nothing here silently drops, truncates or re-decodes data: bytes that are not
UTF-8 are an error naming the line and byte offset (unless lossy decoding is
asked for), a malformed CSV row is an error naming its line, and the lines
that are skipped (empty or whitespace-only) are counted and reported.
"""

import csv
import dataclasses
import errno
import gzip
import io
import logging
import os
import pathlib
import sys
import zlib

from rnnkit.templates.errors import DataError

BOM = "\ufeff"
ENCODING_ERRORS = ("strict", "replace")
log = logging.getLogger("rnnkit")


@dataclasses.dataclass
class LabelledTexts:
    """Texts and their string labels, read from `source`."""

    texts: list
    labels: list
    source: str
    skipped: int = 0  # empty or whitespace-only texts left out

    def __len__(self):
        return len(self.texts)


@dataclasses.dataclass
class Texts:
    """Unlabelled texts, read from `source` (a held-out text in pieces)."""

    texts: list
    source: str

    def __len__(self):
        return len(self.texts)


def existing_path(path, what="data"):
    path = pathlib.Path(path)
    for parent in path.parents:
        if parent.is_file():  # an OS error, as opening the path would give
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (the {what} path)")
    return path


def decode(data, path, errors="strict"):
    """UTF-8 text of `data` (bytes read from `path`), without a leading BOM."""
    if errors not in ENCODING_ERRORS:
        raise DataError(
            f"encoding_errors must be one of {ENCODING_ERRORS}. Received: {errors!r}"
        )
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1)
        raise not_utf8(path, line, error.start, column, data[error.start]) from None
    return text[1:] if text.startswith(BOM) else text


def not_utf8(path, line, offset, column, byte):
    """The error for a byte that is not UTF-8, at `offset` in the file."""
    return DataError(
        f"{path}, line {line}: byte {offset} (column {column}) is not "
        f"UTF-8 (0x{byte:02x}). Re-encode the file as UTF-8, "
        'or set encoding_errors = "replace" to decode it lossily.'
    )


def read_text(path, errors="strict"):
    """The whole UTF-8 text of one file; a `.gz` file is decompressed first,
    so large data can stay compressed on disk (as the translation template's
    does)."""
    path = existing_path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a text file")
    data = path.read_bytes()
    if path.suffix.lower() == ".gz":
        data = gunzip(data, path)
    return decode(data, path, errors)


def gunzip(data, path):
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise DataError(
            f"{path}: not a readable gzip file ({error}); re-compress it with "
            "gzip, or drop the .gz suffix if it is plain text"
        ) from None


def report_skipped(data):
    if data.skipped:
        log.info(
            "%s: skipped %d empty or whitespace-only texts", data.source, data.skipped
        )


def require_rows(count, path, skipped=0):
    if count == 0:
        raise DataError(
            f"{path}: no usable rows ({skipped} empty or whitespace-only "
            "skipped); nothing to train on"
        )


def _delimiter(path):
    """Tab for `.tsv` and `.tab` files (also when gzipped), else comma."""
    suffixes = [suffix.lower() for suffix in pathlib.Path(path).suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes.pop()
    return "\t" if suffixes[-1:] in ([".tsv"], [".tab"]) else ","


def _rows(reader, path):
    # A field may be as long as the file (the vectoriser truncates it, with
    # a warning): the csv module's own 128 KiB limit would reject it.
    csv.field_size_limit(max(csv.field_size_limit(), sys.maxsize))
    try:
        yield from reader
    except csv.Error as error:
        raise DataError(f"{path}, line {reader.line_num}: {error}") from None


def read_table(path, text_column, label_column, errors="strict"):
    """A CSV (`,`) or TSV (`.tsv`, tab) file with a header row."""
    text = read_text(path, errors)
    lines = io.StringIO(text, newline="")
    texts, labels, skipped = [], [], 0
    for _, text, label in table_rows(lines, path, text_column, label_column):
        if text is None:
            skipped += 1
            continue
        texts.append(text)
        labels.append(label)
    require_rows(len(texts), path, skipped)
    return LabelledTexts(texts, labels, str(path), skipped)


def table_rows(lines, path, text_column, label_column):
    """`(line, text, label)` for each row of the CSV/TSV `lines` (an iterable
    of decoded lines with their line breaks) read from `path`; `text` is
    None for a row that is skipped, being empty or whitespace-only. The
    header and every row are checked, naming the line of a bad one."""
    reader = csv.reader(lines, delimiter=_delimiter(path))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path}: the file is empty; expected a header row")
    header = [name.strip() for name in header]
    for column in (text_column, label_column):
        if column not in header:
            raise DataError(
                f"{path}: no column `{column}` in the header. Found: "
                f"{', '.join(header)}. Set text_column / label_column."
            )
    text_at, label_at = header.index(text_column), header.index(label_column)
    for row in _rows(reader, path):
        if not any(field.strip() for field in row):
            yield reader.line_num, None, None  # an empty or whitespace-only line
            continue
        if len(row) != len(header):
            raise DataError(
                f"{path}, line {reader.line_num}: {len(row)} fields, but the "
                f"header has {len(header)}. Quote fields that contain the "
                "delimiter."
            )
        label = row[label_at].strip()
        if not label:
            raise DataError(f"{path}, line {reader.line_num}: empty `{label_column}`")
        text = row[text_at] if row[text_at].strip() else None
        yield reader.line_num, text, label


def read_folder(path, errors="strict"):
    """One subfolder per label holding `.txt` files, one text per file (the
    layout of `keras.utils.text_dataset_from_directory`)."""
    texts, labels, skipped = [], [], 0
    for folder in label_folders(path):
        for file in sorted(folder.glob("*.txt")):
            text = read_text(file, errors)
            if not text.strip():
                skipped += 1
                continue
            texts.append(text)
            labels.append(folder.name)
    require_rows(len(texts), path, skipped)
    return LabelledTexts(texts, labels, str(path), skipped)


def label_folders(path):
    """The subfolders of a labelled folder, one per label, at least two."""
    classes = sorted(p for p in pathlib.Path(path).iterdir() if p.is_dir())
    if len(classes) < 2:
        found = [c.name for c in classes]
        raise DataError(
            f"{path}: a labelled folder needs one subfolder per label, at "
            f"least two. Found: {found}"
        )
    return classes


def read_labelled(path, text_column="text", label_column="label", errors="strict"):
    """Labelled texts from a CSV/TSV file or a folder of label subfolders."""
    path = existing_path(path)
    if path.is_dir():
        data = read_folder(path, errors)
    else:
        data = read_table(path, text_column, label_column, errors)
    report_skipped(data)
    return data


def read_corpus(path, errors="strict"):
    """Plain text: one file, or the `.txt` files of a folder in name order,
    joined by blank lines."""
    path = existing_path(path)
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    texts = [read_text(file, errors) for file in files]
    text = "\n\n".join(t for t in texts if t.strip())
    if not text.strip():
        raise DataError(f"{path}: no text (empty, whitespace only, or no .txt files)")
    return text
