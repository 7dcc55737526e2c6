"""Reading labelled text: formats, and every bad file named by file and line."""

import re

import pytest

from rnnkit.templates import text_files
from rnnkit.templates.errors import DataError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_csv_with_bom_quotes_and_multiline_fields(tmp_path):
    csv = write(
        tmp_path / "d.csv",
        '\ufefftext,label\n"hello, world",greet\n"two\nlines",multi\nplain,greet\n',
    )
    data = text_files.read_labelled(csv)
    assert data.texts == ["hello, world", "two\nlines", "plain"]
    assert data.labels == ["greet", "multi", "greet"]


def test_tsv_and_custom_columns(tmp_path):
    tsv = write(tmp_path / "d.tsv", "id\tbody\ttopic\n1\ta, b\tx\n2\tc\ty\n")
    data = text_files.read_labelled(tsv, text_column="body", label_column="topic")
    assert (data.texts, data.labels) == (["a, b", "c"], ["x", "y"])


def test_empty_and_whitespace_texts_are_skipped_and_counted(tmp_path):
    # An empty text, a blank one, a whitespace-only line and an empty line.
    csv = write(tmp_path / "d.csv", 'text,label\n"",a\n"   ",b\n   \nkeep,a\n\n')
    data = text_files.read_labelled(csv)
    assert data.texts == ["keep"] and data.skipped == 4


def test_missing_column_is_named_with_the_found_ones(tmp_path):
    csv = write(tmp_path / "d.csv", "sentence,label\nx,y\n")
    with pytest.raises(
        DataError, match=r"d.csv: no column `text`.*Found: sentence, label"
    ):
        text_files.read_labelled(csv)


def test_ragged_row_names_its_line(tmp_path):
    csv = write(tmp_path / "d.csv", "text,label\nfine,a\nalso fine,b\nbad,row,here\n")
    with pytest.raises(
        DataError, match=r"d.csv, line 4: 3 fields, but the header has 2"
    ):
        text_files.read_labelled(csv)


def test_empty_label_names_its_line(tmp_path):
    csv = write(tmp_path / "d.csv", "text,label\nfine,a\nno label,\n")
    with pytest.raises(DataError, match=r"d.csv, line 3: empty `label`"):
        text_files.read_labelled(csv)


def test_non_utf8_bytes_name_file_line_and_byte(tmp_path):
    data = b"text,label\nfine,a\ncaf\xe9 au lait,b\n"
    csv = write(tmp_path / "d.csv", data)
    offset = data.index(b"\xe9")
    expected = re.escape(f"d.csv, line 3: byte {offset} (column 3) is not UTF-8 (0xe9)")
    with pytest.raises(DataError, match=expected):
        text_files.read_labelled(csv)
    # Lossy decoding only when asked for.
    lossy = text_files.read_labelled(csv, errors="replace")
    assert lossy.texts[1] == "caf\ufffd au lait"


@pytest.mark.parametrize("content", ["", "text,label\n", 'text,label\n"  ",a\n'])
def test_empty_file_or_no_usable_rows(tmp_path, content):
    csv = write(tmp_path / "d.csv", content)
    with pytest.raises(DataError, match=r"d.csv: (the file is empty|no usable rows)"):
        text_files.read_labelled(csv)


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"nope.csv: no such file or folder"):
        text_files.read_labelled(tmp_path / "nope.csv")


def test_very_long_field_is_read_whole(tmp_path):
    long_text = "word " * 60_000  # 300 KB, beyond the csv module's default limit
    csv = write(tmp_path / "d.csv", f"text,label\n{long_text},a\n")
    assert text_files.read_labelled(csv).texts == [long_text]


def test_label_folders(tmp_path):
    for label, texts in {"pos": ["good", "great", " "], "neg": ["bad"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            write(tmp_path / label / f"{i}.txt", text)
    write(tmp_path / "pos" / "notes.md", "ignored: not .txt")
    data = text_files.read_labelled(tmp_path)
    assert sorted(zip(data.labels, data.texts)) == [
        ("neg", "bad"),
        ("pos", "good"),
        ("pos", "great"),
    ]
    assert data.skipped == 1


def test_folder_with_one_label(tmp_path):
    (tmp_path / "only").mkdir()
    write(tmp_path / "only" / "a.txt", "text")
    with pytest.raises(DataError, match=r"at least two. Found: \['only'\]"):
        text_files.read_labelled(tmp_path)


def test_non_utf8_file_in_a_folder_is_named(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        write(tmp_path / label / "ok.txt", "fine")
    write(tmp_path / "b" / "bad.txt", b"ok\n\xff\n")
    with pytest.raises(DataError, match=r"bad.txt, line 2: byte 3"):
        text_files.read_labelled(tmp_path)


def test_gzipped_files_read_as_their_text(tmp_path):
    import gzip

    text = "id\tbody\ttopic\n1\tcafé\tx\n2\tc\ty\n"
    tsv = write(tmp_path / "d.tsv.gz", gzip.compress(text.encode()))
    data = text_files.read_labelled(tsv, text_column="body", label_column="topic")
    assert (data.texts, data.labels) == (["café", "c"], ["x", "y"])  # tab-separated
    plain = write(tmp_path / "d.txt.gz", gzip.compress(b"one\ntwo\n"))
    assert text_files.read_corpus(plain) == "one\ntwo\n"


def test_a_broken_gzip_file_is_named(tmp_path):
    import gzip

    truncated = gzip.compress(b"text,label\n" + b"words,x\n" * 1000)[:40]
    for content in (b"text,label\nplain,x\n", truncated):
        path = write(tmp_path / "d.csv.gz", content)
        with pytest.raises(DataError, match=re.escape(f"{path}: not a readable gzip")):
            text_files.read_labelled(path)


def test_bytes_in_a_gzipped_file_that_are_not_utf8_are_named(tmp_path):
    import gzip

    path = write(tmp_path / "d.txt.gz", gzip.compress(b"ok\nbad \xff here\n"))
    with pytest.raises(DataError, match=re.escape(f"{path}, line 2: byte 7")):
        text_files.read_corpus(path)
