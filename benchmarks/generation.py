"""Tokens per second of three ways to generate text with the same model.

(a) the exported SavedModel: the prompt is encoded once and the sampling
    loop runs inside the graph (`rnnkit.templates.language_model`);
(b) a Python loop calling `model.predict` once per token on the whole growing
    window, as the keras-io character-level example does;
(c) a Python loop calling a compiled one-step function that carries the
    state, as the TensorFlow text-generation tutorial does.

The model is the generation template's, with the bundled vocabulary and
untrained weights (speed does not depend on them). Repetitions interleave
(a), (b) and (c) and the script reports the medians.

    python benchmarks/generation.py                # 8 prompts, 256 tokens
    python benchmarks/generation.py --tokens 64 --repeats 3
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timing import interleaved_medians  # noqa: E402
from untrained import add_set_option, set_overrides, untrained_export  # noqa: E402

from rnnkit.templates.language_model import TextGenerator  # noqa: E402

PROMPTS = ["ABSURDITY, n.", "LAWYER, n.", "The ", "", "LOVE, n.", "A", "Cynic", "WAR"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    add_set_option(parser, "generation", "units=512")
    return parser.parse_args(argv)


def exported_model(args, folder):
    made = untrained_export("generation", set_overrides(args), folder)
    return made.model, made.meta, made.path


def in_graph(path, prompts, tokens):
    serve = tf.saved_model.load(str(path)).signatures["generate"]
    inputs = dict(
        prompt=tf.constant(prompts),
        max_length=tf.constant(tokens),
        temperature=tf.constant(1.0),
        top_k=tf.constant(0),
        top_p=tf.constant(1.0),
        seed=tf.constant(0),
    )
    return lambda: serve(**inputs)["text"].numpy()


def growing_window(model, generator, prompts, tokens):
    """(b): re-encode everything for every token, sampling in NumPy."""
    ids = generator.token_ids(tf.constant(prompts)).numpy()
    rng = np.random.default_rng(0)

    def run():
        window = ids
        for _ in range(tokens):
            logits = model.predict(window, verbose=0)[:, -1]
            probabilities = tf.nn.softmax(logits).numpy().astype("float64")
            probabilities[:, :3] = 0.0  # never padding, unknown or start
            probabilities /= probabilities.sum(axis=-1, keepdims=True)
            chosen = [rng.choice(len(p), p=p) for p in probabilities]
            window = np.concatenate([window, np.array(chosen)[:, None]], axis=1)
        return window

    return run


def one_step(generator, prompts, tokens):
    """(c): a compiled step that carries the state, called from Python."""
    ids = generator.token_ids(tf.constant(prompts))

    @tf.function
    def step(tokens, states, seed):
        logits, states = generator.step(tokens, states)
        chosen = tf.random.stateless_categorical(logits, 1, seed=seed, dtype=tf.int32)
        return chosen[:, 0], states

    def run():
        logits, states = generator.encode(ids)
        chosen = tf.argmax(logits, -1, output_type=tf.int32)
        produced = []
        for t in range(tokens):
            chosen, states = step(chosen, states, tf.constant([0, t]))
            produced.append(chosen)
        return tf.stack(produced, axis=1).numpy()

    return run


def main(argv=None):
    args = parse_args(argv)
    prompts = (PROMPTS * args.batch)[: args.batch]
    with tempfile.TemporaryDirectory() as folder:
        model, meta, path = exported_model(args, folder)
        generator = TextGenerator(model.encoder, model.forward)
        contenders = {
            "(a) SavedModel, loop in the graph": in_graph(path, prompts, args.tokens),
            "(b) predict() per token, growing window": growing_window(
                model, generator, prompts, args.tokens
            ),
            "(c) compiled step per token, state carried": one_step(
                generator, prompts, args.tokens
            ),
        }
        seconds = interleaved_medians(contenders, args.repeats)
    produced = args.batch * args.tokens
    rates = {name: produced / s for name, s in seconds.items()}
    config = meta["hyperparameters"]
    print(
        f"{args.batch} prompts x {args.tokens} tokens, {config['cell']} "
        f"{config['units']} units x {config['layers']}, vocabulary "
        f"{meta['vocabulary_size']}, TF {tf.__version__}, median of {args.repeats}\n"
    )
    print("| method | tokens/s | (a) is faster by |")
    print("|---|---:|---:|")
    first = rates[next(iter(rates))]
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {first / rate:.1f}x |")


if __name__ == "__main__":
    main()
