"""Class labels: the validation split and the label <-> id mapping.

A label the model never saw in training cannot be predicted, so one that
shows up only in validation or evaluation data is an error that lists the
labels the model knows.
"""

import logging

import numpy as np

from rnnkit.templates.errors import DataError
from rnnkit.templates.text_files import LabelledTexts

log = logging.getLogger("rnnkit")


class LabelSet:
    """The labels of a classifier, in the order of its output units."""

    def __init__(self, labels):
        self.labels = sorted(set(labels))
        self._ids = {label: i for i, label in enumerate(self.labels)}

    def __len__(self):
        return len(self.labels)

    def encode(self, labels, source):
        unknown = sorted(set(labels) - set(self._ids))
        if unknown:
            raise DataError(
                f"{source}: label(s) {unknown} never appear in the training "
                f"data, so the model cannot predict them. Known labels: "
                f"{self.labels}"
            )
        return np.array([self._ids[label] for label in labels], dtype="int32")


def subset(data, indices, source=None):
    return LabelledTexts(
        [data.texts[i] for i in indices],
        [data.labels[i] for i in indices],
        source or data.source,
    )


def split_validation(data, fraction, seed):
    """Stratified split: each label keeps `fraction` of its examples for
    validation (at least one when it has two or more)."""
    rng = np.random.default_rng(seed)
    by_label = {}
    for index, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(index)
    train, validation = [], []
    for label in sorted(by_label):
        indices = rng.permutation(by_label[label]).tolist()
        held = 0 if len(indices) < 2 else max(1, round(len(indices) * fraction))
        if not held:
            log.warning(
                "%s: the label %r has a single example, which stays in training: "
                "validation cannot measure it, and macro-F1 leaves it out",
                data.source,
                label,
            )
        validation += indices[:held]
        train += indices[held:]
    if not validation:
        raise DataError(
            f"{data.source}: too few examples to hold any out for validation"
        )
    train = subset(data, sorted(train))
    train.skipped = data.skipped  # the lines skipped while reading `data`
    return (
        train,
        subset(data, sorted(validation), f"{data.source} (validation split)"),
    )
