"""Bad data files (RELIABILITY.md 21-23, 26-28): each is refused before any
training with one line naming the file (and the line, where there is one),
exit 2, and no run folder is made. Whitespace-only lines are skipped and
counted; a leading UTF-8 byte-order mark is read as text. Held-out data
with a label the model never saw is refused, listing the known labels."""

import re

import pytest
from support import (
    TINY,
    TRANSLATION,
    attempt,
    check_error,
    classification,
    copy,
    examples,
    fails,
    only_changes,
    succeeds,
    without,
    write_csv,
)

pytestmark = pytest.mark.slow
# What the shared builds of `support` must hold for this module.
SHARED_BUILDS = ("classification",)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """Untrained tasks made by `rnnkit new`, to copy."""
    root = tmp_path_factory.mktemp("new_tasks")
    for kind in ("classification", "generation", "translation"):
        succeeds(["new", kind, root / kind], root)
    return root


@pytest.fixture
def task(fresh, tmp_path):
    return copy(fresh / "classification", tmp_path / "task")


def rows_text(rows):
    return "".join(f"{text},{label}\n" for text, label in rows)


def train_fails(task, data, tmp_path, *words, flags=()):
    """`rnnkit train` on `data` fails with exit 2 naming `data` and `words`,
    and writes nothing."""
    with only_changes(tmp_path):
        return fails(
            ["train", task, "--data", data, *TINY, *flags],
            "train",
            2,
            data,
            *words,
            cwd=tmp_path,
        )


def test_an_empty_file(task, tmp_path):
    data = tmp_path / "empty.csv"
    data.write_bytes(b"")
    train_fails(task, data, tmp_path)


def test_a_header_only_file(task, tmp_path):
    data = tmp_path / "header.csv"
    data.write_text("text,label\n")
    train_fails(task, data, tmp_path)


def test_a_missing_column(task, tmp_path):
    data = write_csv(tmp_path / "columns.csv", examples(), header=("text", "topic"))
    train_fails(task, data, tmp_path, "label")


def test_a_ragged_row(task, tmp_path):
    rows = examples()
    data = tmp_path / "ragged.csv"
    # header, two rows, then a row of three fields on line 4
    data.write_text(
        "text,label\n" + rows_text(rows[:2]) + "a b,space,extra\n" + rows_text(rows[2:])
    )
    train_fails(task, data, tmp_path, "line 4")


def test_a_utf16_file_with_its_byte_order_mark(task, tmp_path):
    data = tmp_path / "utf16.csv"
    data.write_bytes(("text,label\n" + rows_text(examples())).encode("utf-16"))
    train_fails(task, data, tmp_path, "line 1", "byte 0")


def test_bytes_that_are_not_utf8(task, tmp_path):
    rows = examples()
    head = ("text,label\n" + rows_text(rows[:2])).encode()
    bad = b"oven r\xe9cipe,cooking\n"
    data = tmp_path / "latin1.csv"
    data.write_bytes(head + bad + rows_text(rows[2:]).encode())
    offset = len(head) + bad.index(b"\xe9")
    train_fails(task, data, tmp_path, "line 4", f"byte {offset}")


def test_a_single_label(task, tmp_path):
    rows = [(text, "space") for text, _ in examples()]
    data = write_csv(tmp_path / "one_label.csv", rows)
    train_fails(task, data, tmp_path)


def test_a_label_only_in_validation_data(task, tmp_path):
    data = write_csv(tmp_path / "train.csv", examples())
    held_out = write_csv(
        tmp_path / "validation.csv", [*examples(per_label=2), ("court ruled", "law")]
    )
    with only_changes(tmp_path):
        fails(
            [
                "train",
                task,
                "--data",
                data,
                "--set",
                f'validation_data="{held_out}"',
                *TINY,
            ],
            "train",
            2,
            held_out,
            "law",
            cwd=tmp_path,
        )


def test_whitespace_only_lines_are_skipped_and_counted(task, tmp_path):
    rows = examples()
    data = tmp_path / "spaces.csv"
    data.write_text(
        "text,label\n"
        + rows_text(rows[:3])
        + "   \n"
        + rows_text(rows[3:6])
        + "\t\n"
        + rows_text(rows[6:])
    )
    with only_changes(tmp_path, allowed=[task / "runs"]):
        result = attempt(["train", task, "--data", data, *TINY], tmp_path)
    assert result.status == 0, result.describe()
    reports = [
        without(line, data, tmp_path)
        for line in result.stderr.splitlines()
        if "skipped" in line
    ]
    assert any(re.search(r"\b2\b", line) for line in reports), result.describe()


def test_parallel_files_of_different_lengths(fresh, tmp_path):
    task = copy(fresh / "translation", tmp_path / "task")
    sources = tmp_path / "source.txt"
    targets = tmp_path / "target.txt"
    sources.write_text("".join(f"{w}\n" for w in ["abc", "bca", "cab"] * 4))  # 12
    targets.write_text("".join(f"{w}\n" for w in ["cba", "acb", "bac"] * 3))  # 9
    with only_changes(tmp_path):
        result = fails(
            [
                "train",
                task,
                "--data",
                sources,
                "--set",
                f'target_data="{targets}"',
                *TRANSLATION,
            ],
            "train",
            2,
            sources,
            targets,
            cwd=tmp_path,
        )
    counts = without(result.error, sources, targets)
    assert re.search(r"\b12\b", counts) and re.search(r"\b9\b", counts), result.error


def test_a_text_shorter_than_one_window(fresh, tmp_path):
    task = copy(fresh / "generation", tmp_path / "task")
    data = tmp_path / "short.txt"
    data.write_text("too short\n")
    with only_changes(tmp_path):
        result = fails(
            ["train", task, "--data", data, "--set", "sequence_length=64"],
            "train",
            2,
            data,
            cwd=tmp_path,
        )
    assert re.search(r"\b64\b", without(result.error, data, tmp_path)), result.error


# Held-out data, scored by an export -----------------------------------------------


@pytest.fixture(scope="module")
def clf(tmp_path_factory, request):
    return classification(tmp_path_factory, request.session)


def test_evaluate_reads_a_utf8_byte_order_mark_as_text(clf, tmp_path):
    data = tmp_path / "bom.csv"
    data.write_bytes(b"\xef\xbb\xbf" + clf.data.read_bytes())
    model = copy(clf.export, tmp_path / "model")
    with only_changes(tmp_path):
        result = succeeds(["evaluate", model, "--data", data], tmp_path)
    assert "accuracy" in result.stdout, result.describe()


def test_evaluate_with_a_label_not_seen_in_training(clf, tmp_path):
    data = write_csv(tmp_path / "law.csv", [*examples(per_label=1), ("court", "law")])
    model = copy(clf.export, tmp_path / "model")
    with only_changes(tmp_path):
        result = attempt(["evaluate", model, "--data", data], tmp_path)
    check_error(result, "evaluate", 2, data, "law", "cooking", "space", "sports")
