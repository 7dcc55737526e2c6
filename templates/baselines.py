"""The simple baselines a template's model must beat, the anchor of its field.

A number means little alone: 1.9 bits per character, 88% accuracy or 24 BLEU
is good or bad only next to what a method with no learning of ours scores on
the same split.

- Character language models: a general-purpose compressor is itself an
  adaptive model of text, and its code length an upper bound on the text's
  cross-entropy. Compressing the training text and then the held-out text
  after it, the extra bytes are what the held-out text costs once the
  compressor has seen the training text:

      bits/char = 8 * (|C(train + held_out)| - |C(train)|) / chars(held_out)

  Characters are Unicode characters, as a character model counts them, while
  the compressors see UTF-8 bytes. gzip's 32 KB window means it barely uses
  the training text; bz2 (900 KB blocks) and xz (a 64 MB dictionary at
  preset 9) use more of it. A model that loses to xz has not learned much.
- Classifiers: TF-IDF n-grams into a linear model, hard to beat on topic and
  sentiment data, and scored with rnnkit's own accuracy and macro-F1.
- Translators: copying the source, scored with rnnkit's own sacreBLEU
  settings; it earns BLEU from names, numbers and shared words, so a
  translator must first beat that.
"""

import bz2
import gzip
import importlib
import lzma
import time

import numpy as np

from rnnkit.templates import metrics
from rnnkit.templates.errors import DataError, RnnkitError

COMPRESSORS = {
    "gzip": lambda data: gzip.compress(data, compresslevel=9, mtime=0),  # 32 KB window
    "bz2": lambda data: bz2.compress(data, compresslevel=9),  # 900 KB blocks
    "xz": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
}


def conditional_bits_per_character(train_text, held_out_text, codec):
    """Bits per (Unicode) character that `codec` ("gzip", "bz2" or "xz")
    spends on `held_out_text` after it has compressed `train_text`."""
    if codec not in COMPRESSORS:
        raise ValueError(
            f"codec must be one of {sorted(COMPRESSORS)}. Received: {codec!r}"
        )
    if not held_out_text:
        raise DataError(
            "the held-out text is empty: bits per character need at least "
            "one held-out character"
        )
    compress = COMPRESSORS[codec]
    train = train_text.encode("utf-8")
    both = (train_text + held_out_text).encode("utf-8")
    extra_bytes = len(compress(both)) - len(compress(train))
    return 8 * extra_bytes / len(held_out_text)


def compression_baselines(train_text, held_out_text):
    """Bits per character of each compressor: `{"gzip": ..., "bz2": ...,
    "xz": ...}`."""
    return {
        codec: conditional_bits_per_character(train_text, held_out_text, codec)
        for codec in COMPRESSORS
    }


def _require_sklearn():
    """rnnkit does not list scikit-learn itself (keras-tuner's bayesian extra
    brings it in), so a missing one gets a remedy, not a traceback."""
    try:
        importlib.import_module("sklearn")
    except ImportError as error:
        raise RnnkitError(
            "the classification baselines need scikit-learn: pip install scikit-learn"
        ) from error


def _check_labelled(texts, labels, what):
    if not len(texts) or len(texts) != len(labels):
        raise DataError(
            f"the {what} texts and labels must be non-empty and as many. "
            f"Received: {len(texts)} texts, {len(labels)} labels"
        )


def _fit_and_score(name, pipeline, train, validation):
    """Fits `pipeline` on `train` (texts, labels), predicts `validation`, and
    scores it with rnnkit's metrics; labels may be any hashable values."""
    _check_labelled(*train, "training")
    _check_labelled(*validation, "validation")
    started = time.perf_counter()
    pipeline.fit(list(train[0]), list(train[1]))
    predicted = list(pipeline.predict(list(validation[0])))
    seconds = time.perf_counter() - started
    classes = list(dict.fromkeys([*train[1], *validation[1]]))
    index = {label: i for i, label in enumerate(classes)}
    true_ids = [index[label] for label in validation[1]]
    predicted_ids = [index[label] for label in predicted]
    matrix = metrics.confusion_matrix(true_ids, predicted_ids, len(classes))
    return {
        "name": name,
        "accuracy": float(np.mean(np.equal(true_ids, predicted_ids))),
        "macro_f1": metrics.macro_f1(matrix),
        "seconds": seconds,
    }


def _word_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)


def tfidf_logistic_regression(
    train_texts, train_labels, validation_texts, validation_labels, seed=0
):
    """Word uni- and bigram TF-IDF into logistic regression. Returns `name`,
    `accuracy`, `macro_f1` on the validation texts, and the `seconds` that
    fitting and predicting took."""
    _require_sklearn()
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    classifier = LogisticRegression(C=10.0, max_iter=2000, random_state=seed)
    return _fit_and_score(
        "TF-IDF word 1-2-grams + logistic regression",
        make_pipeline(_word_tfidf(), classifier),
        (train_texts, train_labels),
        (validation_texts, validation_labels),
    )


def tfidf_linear_svm(
    train_texts, train_labels, validation_texts, validation_labels, seed=0
):
    """Word 1-2-gram and character 2-5-gram TF-IDF into a linear SVM; the
    character n-grams catch spellings, inflections and typos that whole words
    miss. Returns what `tfidf_logistic_regression` does."""
    _require_sklearn()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.svm import LinearSVC

    characters = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1
    )
    features = FeatureUnion([("words", _word_tfidf()), ("characters", characters)])
    return _fit_and_score(
        "TF-IDF word 1-2-grams + char 2-5-grams + linear SVM",
        make_pipeline(features, LinearSVC(C=0.5, random_state=seed)),
        (train_texts, train_labels),
        (validation_texts, validation_labels),
    )


def copy_source_scores(sources, references):
    """BLEU and chrF of "translating" each source as itself, with the
    sacreBLEU settings (defaults: cased, 13a tokens) that rnnkit scores its
    translators with."""
    scores = metrics.translation_metrics(list(sources), list(references))
    return {"name": "copy the source", "bleu": scores["bleu"], "chrf": scores["chrf"]}
