"""Sentences per second of three ways to translate with the same model.

(1) the exported greedy decoder (`serving_default`): the encoder runs once,
    then the decoder steps its cells inside a `tf.while_loop`;
(2) the exported beam decoder (`translate`, width 4, which also runs greedy
    and keeps the better of the two);
(3) a Python loop of per-token `model.predict` calls on the growing target
    prefix, in the manner of the keras-io `lstm_seq2seq` example (which calls
    its decoder model's `predict` once per token).

The model is the translation template's, with the bundled data's
vocabularies and untrained weights (speed does not depend on them), so every
method decodes the full `target_length` tokens. All three translate the same
batch; repetitions interleave them and the script reports medians.

    python benchmarks/translation.py
    python benchmarks/translation.py --batch 8 --repeats 3
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timing import interleaved_medians  # noqa: E402
from untrained import untrained_export  # noqa: E402

from rnnkit.templates.seq2seq import END, START  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--beam-width", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args(argv)


def exported_model(folder):
    made = untrained_export("translation", {}, folder)
    return made.module, made.model, made.meta, made.path, made.data


def predict_loop(module, model, meta, texts):
    """(3): re-run the model on the prefix for every new token, batched."""
    translator = module.translator(model, meta["hyperparameters"])
    source = translator.source_ids(tf.constant(texts)).numpy()
    length = meta["hyperparameters"]["target_length"]

    def run():
        prefix = np.full((len(texts), 1), START, "int32")
        for _ in range(length):
            logits = model.predict([source, prefix], verbose=0)[:, -1]
            logits[:, :3] = -np.inf  # never padding, unknown or start
            chosen = np.argmax(logits, -1).astype("int32")
            prefix = np.concatenate([prefix, chosen[:, None]], axis=1)
            if np.all(np.any(prefix == END, axis=1)):
                break
        return prefix

    return run


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        module, model, meta, path, data = exported_model(folder)
        texts = tf.constant(data.validation.texts[: args.batch])
        signatures = tf.saved_model.load(str(path)).signatures
        beam = dict(
            beam_width=tf.constant(args.beam_width),
            max_length=tf.constant(meta["hyperparameters"]["target_length"]),
        )
        contenders = {
            "exported greedy decoder": lambda: signatures["serving_default"](
                text=texts
            ),
            f"exported beam decoder (width {args.beam_width})": lambda: signatures[
                "translate"
            ](text=texts, **beam),
            "Python loop of predict() per token": predict_loop(
                module, model, meta, [t.decode() for t in texts.numpy()]
            ),
        }
        seconds = interleaved_medians(contenders, args.repeats)
    config = meta["hyperparameters"]
    rates = {name: args.batch / s for name, s in seconds.items()}
    print(
        f"{args.batch} sentences, {config['target_length']} target tokens, "
        f"{config['cell']} {config['units']} units, bidirectional "
        f"{config['bidirectional']}, {config['attention']} attention, "
        f"TF {tf.__version__}, median of {args.repeats}\n"
    )
    print("| method | sentences/s | vs the predict() loop |")
    print("|---|---:|---:|")
    loop = rates["Python loop of predict() per token"]
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.1f} | {rate / loop:.1f}x |")


if __name__ == "__main__":
    main()
