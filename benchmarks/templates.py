"""The templates as a whole: training with rnnkit's layers against the same
model with the Keras built-ins in their place.

For each template, on its bundled data with its default config, one process
builds the template's model twice: as it is, and with `keras.layers`
SimpleRNN, GRU or LSTM wherever the task's `build_model` asks rnnkit's
`get_layer` for a layer (same arguments; `Bidirectional` wraps either). The
two train in turn, interleaved (the order flips every repetition), on the
same batches (an epoch's first `--steps` batches, read once and kept in
memory, so that the input pipeline's start-up is not timed), and the script
reports the median of the per-repetition ratios.

    python benchmarks/templates.py                       # the README's table
    python benchmarks/templates.py --kinds classification --steps 20 --repeats 3

Ratios above 1.0 mean rnnkit is faster.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from untrained import add_set_option, set_overrides  # noqa: E402

KINDS = ("classification", "translation", "generation")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--steps", type=int, default=40, help="training steps timed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--intra-op-threads",
        type=int,
        default=0,
        help="TensorFlow's intra-op thread pool size (0: TensorFlow's default)",
    )
    add_set_option(parser, "template's", "units=64 (the same for every template)")
    return parser.parse_args(argv)


def keras_layer(kind, units, **options):
    """The Keras built-in for an rnnkit `get_layer(kind, units, ...)`."""
    import keras

    layers = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU}
    return layers.get(kind, keras.layers.LSTM)(units, **options)


def built_pair(task, config, data):
    """The template's model and its twin with Keras's layers, each built
    from the same seed."""
    import keras

    from rnnkit.templates import workflow

    keras.utils.set_random_seed(config["seed"])
    ours = workflow.built_model(task, config, data)
    rnnkit_layer = task.module.get_layer
    task.module.get_layer = keras_layer
    try:
        keras.utils.set_random_seed(config["seed"])
        theirs = workflow.built_model(task, config, data)
    finally:
        task.module.get_layer = rnnkit_layer
    return ours, theirs


def recurrent_layers(model):
    """The names of the recurrent layers' classes in `model`, to show that
    the twin has Keras's."""
    import keras

    found = set()
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Bidirectional):
            layer = layer.forward_layer
        name = type(layer).__module__.split(".")[0] + "." + type(layer).__name__
        if type(layer).__name__ in ("SimpleRNN", "GRU", "LSTM"):
            found.add(name)
    return sorted(found)


def kept_batches(train, steps):
    """The first `steps` batches of `train`, read once and kept in memory:
    the timing is the models', not the input pipeline's start-up
    (translation's shuffle buffer added about 7 s to some epochs and not to
    others)."""
    import tensorflow as tf

    from rnnkit.templates import training

    batches = train.take(steps).cache()
    count = sum(1 for _ in batches)
    # A dataset of unknown length makes `fit` warn that it "ran out of
    # data" when it ends, though every batch was used.
    batches = batches.apply(tf.data.experimental.assert_cardinality(count))
    # As the templates' `fit` feeds them (see `without_autotuning`).
    return training.without_autotuning(batches)


def compare(kind, args):
    from rnnkit.templates import tasks

    task = tasks.locate(kind)
    config = task.config(set_overrides(args))
    data = task.module.read_data(config, task.folder)
    train, _ = task.module.datasets(config, data)
    ours, theirs = built_pair(task, config, data)
    assert recurrent_layers(ours) != recurrent_layers(theirs)

    batches = kept_batches(train, args.steps)

    def epoch(model):
        model.fit(batches, epochs=1, shuffle=False, verbose=0)

    models = {"rnnkit": ours, "keras": theirs}  # keyed by name, not by model
    for model in models.values():  # trace and warm up outside the timing
        epoch(model)
    ratios, seconds = [], {name: [] for name in models}
    for repeat in range(args.repeats):
        order = list(models) if repeat % 2 == 0 else list(models)[::-1]
        for name in order:
            start = time.perf_counter()
            epoch(models[name])
            seconds[name].append(time.perf_counter() - start)
        ratios.append(seconds["keras"][-1] / seconds["rnnkit"][-1])
    both_ways = "yes" if config.get("bidirectional") else "no"
    return (
        f"| {kind} | {config['cell']} | {both_ways}"
        f" | {statistics.median(seconds['rnnkit']):.2f} "
        f"| {statistics.median(seconds['keras']):.2f} "
        f"| {statistics.median(ratios):.2f}x |"
    )


def main(argv=None):
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    print(
        f"{args.steps} training steps of each template's default config, "
        f"{args.repeats} interleaved repeats, TF {tf.__version__}, Keras "
        f"{keras.__version__}, {os.cpu_count()} CPUs, intra-op threads "
        f"{args.intra_op_threads or 'default'}\n"
    )
    print("| template | cell | bidirectional | rnnkit s | Keras built-ins s | ratio |")
    print("|---|---|---|---:|---:|---:|")
    for kind in args.kinds:
        print(compare(kind, args), flush=True)


if __name__ == "__main__":
    main()
