"""The validation split and label ids."""

import logging

import numpy as np
import pytest

from rnnkit.templates.errors import DataError
from rnnkit.templates.labels import LabelSet, split_validation
from rnnkit.templates.text_files import LabelledTexts


def examples(counts):
    labels = [label for label, n in counts.items() for _ in range(n)]
    return LabelledTexts([f"text {i}" for i in range(len(labels))], labels, "d.csv")


def test_split_is_stratified_and_disjoint():
    data = examples({"a": 50, "b": 10, "c": 2, "d": 1})
    train, validation = split_validation(data, 0.2, seed=0)
    assert sorted(train.texts + validation.texts) == sorted(data.texts)
    assert not set(train.texts) & set(validation.texts)
    held = {label: validation.labels.count(label) for label in "abcd"}
    assert held == {"a": 10, "b": 2, "c": 1, "d": 0}


def test_split_is_reproducible_and_seeded():
    data = examples({"a": 40, "b": 40})
    first = split_validation(data, 0.25, seed=1)[1].texts
    assert split_validation(data, 0.25, seed=1)[1].texts == first
    assert split_validation(data, 0.25, seed=2)[1].texts != first


def test_labels_are_sorted_ids():
    labels = LabelSet(["pos", "neg", "pos", "mixed"])
    assert labels.labels == ["mixed", "neg", "pos"]
    np.testing.assert_array_equal(labels.encode(["pos", "mixed"], "x"), [2, 0])


def test_unknown_label_lists_the_known_ones():
    labels = LabelSet(["pos", "neg"])
    with pytest.raises(
        DataError, match=r"eval.csv: label\(s\) \['meh'\].*\['neg', 'pos'\]"
    ):
        labels.encode(["pos", "meh"], "eval.csv")


def test_too_few_examples_to_validate():
    with pytest.raises(DataError, match=r"too few examples"):
        split_validation(examples({"a": 1, "b": 1}), 0.2, seed=0)


def test_a_label_with_one_example_is_warned_about(caplog):
    data = LabelledTexts(
        [f"t{i}" for i in range(9)], ["a"] * 4 + ["b"] * 4 + ["c"], "d.csv"
    )
    with caplog.at_level(logging.WARNING, logger="rnnkit"):
        train, validation = split_validation(data, 0.25, seed=0)
    assert "c" in train.labels and "c" not in validation.labels
    assert "d.csv: the label 'c' has a single example" in caplog.text
    assert "macro-F1 leaves it out" in caplog.text
