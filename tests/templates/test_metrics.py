"""Accuracy, macro-F1 and the confusion matrix, against hand-computed numbers."""

import numpy as np
import pytest

from rnnkit.templates import metrics


def one_hot(ids, classes):
    return np.eye(classes)[ids]


def test_confusion_matrix_accuracy_and_macro_f1():
    true = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 2, 2]
    result = metrics.classification_metrics(
        true, one_hot(predicted, 3), ["a", "b", "c"]
    )
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert result["accuracy"] == pytest.approx(4 / 6)
    # F1 per class: a 2*2/(2+3)=0.8, b 2*1/(2+2)=0.5, c 2*1/(2+1)=2/3.
    assert result["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert result["examples"] == 6 and result["labels"] == ["a", "b", "c"]


def test_a_class_never_predicted_nor_present_is_left_out_as_in_scikit_learn():
    # A label with one example stays in training, so validation never has it.
    result = metrics.classification_metrics([0, 1], one_hot([0, 1], 3), list("abc"))
    assert result["macro_f1"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_macro_f1_equals_scikit_learn_s(seed):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(seed)
    true, predicted = rng.integers(0, 5, 40), rng.integers(0, 4, 40)
    result = metrics.classification_metrics(true, one_hot(predicted, 5), list("abcde"))
    expected = f1_score(true, predicted, average="macro", zero_division=0)
    assert result["macro_f1"] == pytest.approx(expected)


def test_confusion_matrix_png(tmp_path):
    result = metrics.classification_metrics(
        [0, 1, 1], one_hot([0, 1, 0], 2), ["x", "y"]
    )
    metrics.plot_confusion_matrix(result, tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
