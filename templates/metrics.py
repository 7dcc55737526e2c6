"""Metrics: accuracy, macro-F1 and the confusion matrix for classifiers;
BLEU, chrF and token error rate for translations; and their plots."""

import numpy as np


def confusion_matrix(true_ids, predicted_ids, classes):
    """Counts, `[true][predicted]`."""
    matrix = np.zeros((classes, classes), dtype="int64")
    np.add.at(matrix, (np.asarray(true_ids), np.asarray(predicted_ids)), 1)
    return matrix


def macro_f1(matrix):
    """The unweighted mean of F1 over the classes that occur, as true or
    predicted labels, as in scikit-learn: a class absent from the data and
    never predicted has no F1 to count."""
    true_positive = np.diag(matrix).astype("float64")
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    denominator = predicted + actual
    occurring = denominator > 0
    if not occurring.any():
        return 0.0
    return float(np.mean(2 * true_positive[occurring] / denominator[occurring]))


def classification_metrics(true_ids, probabilities, labels):
    predicted = np.argmax(probabilities, axis=-1)
    matrix = confusion_matrix(true_ids, predicted, len(labels))
    return {
        "accuracy": float(np.mean(predicted == np.asarray(true_ids))),
        "macro_f1": macro_f1(matrix),
        "examples": int(len(true_ids)),
        "labels": list(labels),
        "confusion_matrix": matrix.tolist(),
    }


def plot_confusion_matrix(metrics, path):
    """Saves the confusion matrix of `metrics` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    matrix = np.array(metrics["confusion_matrix"])
    labels = metrics["labels"]
    size = 1.2 + 0.6 * len(labels)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(
        f"accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f}"
    )
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    figure.colorbar(image)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def edit_distance(a, b):
    """Levenshtein distance between two token lists."""
    previous = list(range(len(b) + 1))
    for i, token in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (token != other),
                )
            )
        previous = current
    return previous[-1]


def translation_metrics(hypotheses, references):
    """Corpus BLEU and chrF with sacreBLEU's defaults (cased, 13a tokens),
    as papers report them, with sacreBLEU's signature strings; exact match;
    and the token error rate over sacreBLEU's 13a tokens."""
    import sacrebleu
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    bleu, chrf = sacrebleu.BLEU(), sacrebleu.CHRF()
    split = Tokenizer13a()
    hyp_tokens = [split(h.strip()).split() for h in hypotheses]
    ref_tokens = [split(r.strip()).split() for r in references]
    errors = sum(edit_distance(h, r) for h, r in zip(hyp_tokens, ref_tokens))
    reference_length = sum(len(r) for r in ref_tokens)
    return {
        "bleu": bleu.corpus_score(hypotheses, [references]).score,
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "exact_match": float(
            np.mean([h.strip() == r.strip() for h, r in zip(hypotheses, references)])
        ),
        "token_error_rate": errors / max(reference_length, 1),
        "examples": len(references),
    }


def plot_attention(weights, source_tokens, target_tokens, path):
    """Saves `(target steps, source tokens)` attention weights as a PNG,
    padding cut off."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    source = [t for t in source_tokens if t]
    target = [t for t in target_tokens if t] or ["(empty)"]
    weights = np.asarray(weights)[: len(target), : len(source)]
    size = (1.5 + 0.5 * len(source), 1.2 + 0.4 * len(target))
    figure, axes = plt.subplots(figsize=size)
    axes.imshow(weights, cmap="viridis", vmin=0.0, aspect="auto")
    axes.set_xticks(range(len(source)), source, rotation=60, ha="right")
    axes.set_yticks(range(len(target)), target)
    axes.set_xlabel("source")
    axes.set_ylabel("translation")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
