"""Using an export: predict, evaluate, info and attention.

Everything here works from the SavedModel and its `assets/rnnkit.json`
alone: the signatures say what goes in and out, and the metadata's
`serving` entry (see `export.Serving`) says which input takes the texts,
which output to print, what defaults the options have and how held-out data
is scored. No task code is imported, so an export of a copied task, whatever
it changed, is used exactly as it was exported.
"""

import re

import numpy as np

from rnnkit.templates import evaluation, export
from rnnkit.templates.errors import RnnkitError

# `rnnkit predict --greedy` is the likeliest token at every step: top-k of 1.
GREEDY = {"top_k": 1}
INT32 = (-(2**31), 2**31 - 1)


def _load(path):
    signatures, meta = export.load(path)
    if "serving" not in meta:
        raise RnnkitError(
            f"{export.resolve(path) / export.METADATA}: no `serving` entry; the "
            "export was made by an older rnnkit. Export the run again"
        )
    return signatures, meta


def _input_specs(signature):
    _, inputs = signature.structured_input_signature
    return inputs


def _pick_signature(serving, options):
    """The signature taking the texts and every option, fewest inputs first."""
    if not options:
        return "serving_default"
    fitting = [
        (len(entry["inputs"]), name)
        for name, entry in serving["signatures"].items()
        if serving["input"] in entry["inputs"] and set(options) <= set(entry["inputs"])
    ]
    if not fitting:
        offered = {
            name: [i for i in entry["inputs"] if i != serving["input"]]
            for name, entry in serving["signatures"].items()
        }
        raise RnnkitError(
            f"no signature of this model takes {sorted(options)}. Options of "
            f"its signatures: {offered}"
        )
    return min(fitting)[1]


def _tensor(name, value, spec):
    import tensorflow as tf

    if spec.dtype.is_integer:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise RnnkitError(f"{name} must be an integer. Received: {value!r}")
        if not INT32[0] <= value <= INT32[1]:
            raise RnnkitError(
                f"{name} must be within the int32 range {INT32}. Received: {value}"
            )
    return tf.constant(value, spec.dtype)


def request(signatures, serving, texts, options):
    """`(signature name, inputs)` for `texts` and the decoding `options`."""
    import tensorflow as tf

    options = dict(options)
    if options.pop("greedy", False):
        if "temperature" in options:
            raise RnnkitError(
                "--greedy takes the likeliest token at every step, which no "
                "temperature changes; give one or the other"
            )
        options.update(GREEDY)
    name = _pick_signature(serving, options)
    specs = _input_specs(signatures[name])
    values = {**serving["signatures"][name]["defaults"], **options}
    inputs = {serving["input"]: tf.constant(texts, dtype=tf.string)}
    for key, spec in specs.items():
        if key != serving["input"]:
            inputs[key] = _tensor(key, values[key], spec)
    return name, inputs


def _call(signature, inputs, path, options=None):
    """The signature's outputs as arrays; a failed check inside the graph
    (a bad option value) becomes a one-line error."""
    import tensorflow as tf

    try:
        return {k: v.numpy() for k, v in signature(**inputs).items()}
    except tf.errors.InvalidArgumentError as error:
        received = f". Received: {options}" if options else ""
        raise RnnkitError(f"{path}: {graph_check_reason(error)}{received}") from None


def graph_check_reason(error):
    """The message of the failed check inside the graph that raised the
    `tf.errors.InvalidArgumentError` `error`, without TensorFlow's frame."""
    # "assertion failed: [<message>] [Condition x > 0 did not hold ...]"
    found = re.search(r"assertion failed: \[(.*?)\] \[Condition", error.message, re.S)
    reason = found.group(1).strip() if found else error.message.splitlines()[0]
    return reason.rstrip(". ")


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _row(outputs, index, meta, serving, text, as_json):
    if not as_json:
        return _plain(outputs[serving["output"]][index])
    row = {serving["input"]: text}
    for key, values in outputs.items():
        value = _plain(values[index])
        names = meta.get(serving["labelled_outputs"].get(key, ""))
        row[key] = dict(zip(names, value)) if names else value
    return row


def predict(path, texts, as_json=False, options=None):
    """One result per text: the printed output, or with `as_json` a dict of
    every output. `options` pick the signature that takes them (generation:
    max_length, temperature, top_k, top_p, seed, greedy; translation:
    beam_width, max_length)."""
    signatures, meta = _load(path)
    serving = meta["serving"]
    name, inputs = request(signatures, serving, texts, options or {})
    outputs = _call(signatures[name], inputs, export.resolve(path), options)
    return [
        _row(outputs, i, meta, serving, text, as_json) for i, text in enumerate(texts)
    ]


def evaluate(path, data):
    """Metrics of an export on held-out `data`, read in the standard format
    of its evaluation (a labelled CSV/TSV or folder, a TSV of pairs, or a
    plain text) with the export's settings."""
    signatures, meta = _load(path)
    serving = meta["serving"]
    examples = evaluation.read_examples(
        serving["evaluation"], meta["hyperparameters"], data
    )
    return evaluation.evaluate(signatures, serving, examples, meta)


def _describe(signature):
    def spec(tensor_spec):
        return f"{tensor_spec.dtype.name} {tensor_spec.shape.as_list()}"

    return {
        "inputs": {k: spec(v) for k, v in _input_specs(signature).items()},
        "outputs": {k: spec(v) for k, v in signature.structured_outputs.items()},
    }


def info(path):
    """What an export is: task, signatures, labels, settings and metrics."""
    signatures, meta = export.load(path)
    return {
        "path": str(export.resolve(path)),
        "task": meta.get("task"),
        "rnnkit_version": meta.get("rnnkit_version"),
        "signatures": {name: _describe(f) for name, f in signatures.items()},
        **{
            k: meta[k]
            for k in (
                "labels",
                "vocabulary_size",
                "tokenization",
                "hyperparameters",
                "metrics",
            )
            if k in meta
        },
    }


def plot_attention(path, text, picture):
    """Translates `text` and saves its attention weights as a PNG."""
    import tensorflow as tf

    from rnnkit.templates import metrics

    signatures, meta = export.load(path)
    if "attention" not in signatures:
        raise RnnkitError(f"{path}: this model has no `attention` signature")
    outputs = _call(
        signatures["attention"], {"text": tf.constant([text], tf.string)}, path
    )
    decoded = {k: v[0] for k, v in outputs.items()}
    metrics.plot_attention(
        decoded["attention"],
        [t.decode() for t in decoded["source_tokens"]],
        [t.decode() for t in decoded["target_tokens"]],
        picture,
    )
    return decoded["translation"].decode()
