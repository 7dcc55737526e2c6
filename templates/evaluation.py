"""Scoring a model's signatures on held-out examples, the same way for a
run's model in this process and for a SavedModel loaded from disk.

An export records how it is scored (`Serving.evaluation` in
`assets/rnnkit.json`), so `rnnkit evaluate` needs the SavedModel and the
data, never the task's code:

- `labels`: `serving_default`'s `probabilities` against labelled texts
  (accuracy, macro-F1, the confusion matrix);
- `references`: its printed output against reference texts (sacreBLEU's
  BLEU and chrF, exact match, token error rate);
- `likelihood`: the `score` signature's nats per token on a held-out text,
  in pieces of `sequence_length` tokens split by the export's tokeniser.
"""

import math

import numpy as np
import tensorflow as tf

from rnnkit.templates import metrics, parallel_text, streaming, text_files
from rnnkit.templates.labels import LabelSet
from rnnkit.templates.text_encoder import tokens_of

BATCH = {"labels": 256, "references": 128, "likelihood": 64}


def read_corpus_pieces(config, path):
    """A plain text (file or folder) as `Texts` of `sequence_length` tokens,
    tokenised as the model tokenises."""
    text = text_files.read_corpus(path, config.get("encoding_errors", "strict"))
    tokens = tokens_of([text], config["tokenization"])[0]
    separator = "" if config["tokenization"] == "character" else " "
    length = config["sequence_length"]
    pieces = [
        separator.join(tokens[i : i + length]) for i in range(0, len(tokens), length)
    ]
    return text_files.Texts(pieces, str(path))


def read_examples(kind, config, path):
    """Held-out data for an export scored by `kind`, in the standard formats
    (see `text_files` and `parallel_text`), with the export's settings."""
    errors = config.get("encoding_errors", "strict")
    if kind == "labels":
        return text_files.read_labelled(
            path,
            config.get("text_column", "text"),
            config.get("label_column", "label"),
            errors,
        )
    if kind == "references":
        return parallel_text.read_pairs(path, None, errors)
    return read_corpus_pieces(config, path)


def _batched(function, texts, size):
    """`function` over `texts` in batches; its outputs, concatenated."""
    outputs = [
        function(tf.constant(texts[i : i + size], tf.string))
        for i in range(0, len(texts), size)
    ]
    return {k: np.concatenate([o[k].numpy() for o in outputs]) for k in outputs[0]}


def _labelled_batches(examples, size):
    """`(texts, labels)` lists of at most `size` examples: of `LabelledTexts`,
    or of a stream of `(text, label)` pairs that is read once."""
    pairs = (
        zip(examples.texts, examples.labels) if hasattr(examples, "texts") else examples
    )
    for block in streaming.batches(pairs, size):
        texts, labels = zip(*block)
        yield list(texts), list(labels)


def language_metrics(loss, tokens, tokenization):
    """Loss (nats per token), perplexity and bits per token (and char)."""
    result = {
        "loss": loss,
        "perplexity": math.exp(loss),
        "bits_per_token": loss / math.log(2),
        "tokens": int(tokens),
    }
    if tokenization == "character":
        result["bits_per_char"] = result["bits_per_token"]
    return result


def evaluate(signatures, serving, examples, meta):
    """Metrics of `signatures` (name -> function of named string tensors)
    on `examples`; `serving` is the export's description (`Serving.describe`)
    and `meta` its metadata."""
    kind, size = serving["evaluation"], BATCH[serving["evaluation"]]
    default = signatures["serving_default"]
    if kind == "labels":
        labels, known = meta["labels"], LabelSet(meta["labels"])
        position = {label: i for i, label in enumerate(labels)}  # output order
        ids, probabilities = [], []
        for texts, names in _labelled_batches(examples, size):
            known.encode(names, examples.source)  # unknown ones?
            ids.extend(position[name] for name in names)
            outputs = default(**{serving["input"]: tf.constant(texts, tf.string)})
            probabilities.append(outputs["probabilities"].numpy())
        probabilities = np.concatenate(probabilities)
        return metrics.classification_metrics(ids, probabilities, labels)
    if kind == "references":
        sources, references, hypotheses = [], [], []
        for texts, labels in _labelled_batches(examples, size):
            outputs = default(**{serving["input"]: tf.constant(texts, tf.string)})
            hypotheses += [h.decode() for h in outputs[serving["output"]].numpy()]
            references += labels
            sources += texts[: 10 - len(sources)]
        result = metrics.translation_metrics(hypotheses, references)
        result["samples"] = [
            {"source": s, "reference": r, "translation": h}
            for s, r, h in zip(sources, references, hypotheses)
        ]
        return result
    scored = _batched(lambda t: signatures["score"](text=t), examples.texts, size)
    tokens = float(np.sum(scored["tokens"]))
    config = meta["hyperparameters"]
    loss = float(np.sum(scored["nats"])) / max(tokens, 1.0)
    return language_metrics(loss, tokens, config["tokenization"])
