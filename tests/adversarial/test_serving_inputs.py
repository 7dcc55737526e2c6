"""Requests at serving time (RELIABILITY.md 17, 22, 23, 35; issue 13, items
3 and 7): every signature of every template answers an empty string, an
all-empty batch and an empty batch with finite, well-formed outputs, through
the CLI and through `tf.saved_model.load`; bytes that are not UTF-8 on stdin
and decoding options that make no sense are one line, exit 2. Nothing is
written but the picture asked for."""

import json

import numpy as np
import pytest
from support import (
    classification,
    copy,
    fails,
    generation,
    only_changes,
    succeeds,
    translation,
)

pytestmark = pytest.mark.slow
# What the shared builds of `support` must hold for this module.
SHARED_BUILDS = ("classification", "generation", "translation")

KINDS = ["classification", "generation", "translation"]
BUILDS = {
    "classification": classification,
    "generation": generation,
    "translation": translation,
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory, request):
    """`{kind: a function giving the shared export of that kind}`; each is
    built (or found) on first use, so one failed build fails only its kind."""
    return {
        kind: (lambda b=build: b(tmp_path_factory, request.session).export)
        for kind, build in BUILDS.items()
    }


@pytest.fixture
def model(exports, tmp_path, request):
    """A copy of the export of `request.param` in tmp_path."""
    return copy(exports[request.param](), tmp_path / "model" / "1")


def one_json_line(result, text):
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.describe()
    row = json.loads(lines[0])
    assert text in row.values(), row
    return row


# Empty texts through the CLI -------------------------------------------------------


@pytest.mark.parametrize("model", KINDS, indirect=True)
def test_predict_an_empty_text(model, tmp_path):
    with only_changes(tmp_path):
        result = succeeds(["predict", model, "", "--json"], tmp_path)
    one_json_line(result, "")


@pytest.mark.parametrize("model", KINDS, indirect=True)
def test_predict_a_blank_line_on_stdin(model, tmp_path):
    with only_changes(tmp_path):
        result = succeeds(["predict", model, "--json"], tmp_path, stdin=b"\n")
    one_json_line(result, "")


@pytest.mark.parametrize("model", ["translation"], indirect=True)
def test_attention_of_an_empty_text(model, tmp_path):
    picture = tmp_path / "attention.png"
    with only_changes(tmp_path, allowed=[picture]):
        succeeds(["attention", model, "", "--out", picture], tmp_path)
    assert picture.read_bytes()[:4] == b"\x89PNG"


# Empty texts through tf.saved_model.load --------------------------------------------

# Values for an option input that the export records no default for.
OPTIONS = {
    "max_length": 5,
    "temperature": 1.0,
    "top_k": 0,
    "top_p": 1.0,
    "seed": 1,
    "beam_width": 2,
}


def well_formed(name, key, value, batch):
    """Outputs with one row per text, finite numbers and UTF-8 strings."""
    where = f"`{key}` of `{name}` for {batch}"
    assert value.shape.rank >= 1 and value.shape[0] == len(batch), (where, value.shape)
    array = value.numpy()
    if value.dtype.is_floating:
        assert np.all(np.isfinite(array)), (where, array)
    if value.dtype.name == "string":
        for item in array.reshape(-1):
            item.decode("utf-8")


@pytest.mark.parametrize(
    "batch", [[""], ["", ""], []], ids=["empty", "all-empty", "none"]
)
@pytest.mark.parametrize("kind", KINDS)
def test_every_signature_answers_empty_requests(exports, kind, batch):
    import tensorflow as tf

    path = exports[kind]()
    meta = json.loads((path / "assets" / "rnnkit.json").read_text())
    signatures = tf.saved_model.load(str(path)).signatures
    assert set(signatures) == set(meta["serving"]["signatures"])
    for name, signature in signatures.items():
        defaults = {**OPTIONS, **meta["serving"]["signatures"][name]["defaults"]}
        inputs = {}
        for key, spec in signature.structured_input_signature[1].items():
            if spec.dtype == tf.string:
                inputs[key] = tf.constant(batch, tf.string, shape=[len(batch)])
            else:
                inputs[key] = tf.constant(defaults[key], spec.dtype)
        outputs = signature(**inputs)
        assert outputs, name
        for key, value in outputs.items():
            well_formed(name, key, value, batch)


# Bytes that are not UTF-8 ----------------------------------------------------


@pytest.mark.parametrize("model", ["classification"], indirect=True)
def test_predict_bytes_that_are_not_utf8_on_stdin(model, tmp_path):
    with only_changes(tmp_path):
        fails(
            ["predict", model],
            "predict",
            2,
            "stdin",
            "line 2",
            cwd=tmp_path,
            stdin=b"oven flour\nr\xe9cipe\n",
        )


# Options that make no sense -------------------------------------------------


@pytest.mark.parametrize("model", ["classification"], indirect=True)
def test_beam_width_on_a_classifier(model, tmp_path):
    with only_changes(tmp_path):
        result = fails(
            ["predict", model, "oven flour", "--beam-width", "3"],
            "predict",
            2,
            "beam",
            cwd=tmp_path,
        )
    assert "generation" not in result.error


@pytest.mark.parametrize("model", ["generation"], indirect=True)
@pytest.mark.parametrize(
    "flags,word",
    [
        (["--temperature", "0"], "temperature"),
        (["--top-p", "1.5"], "top"),
        (["--seed", "4294967297"], "seed"),
        (["--greedy", "--temperature", "2"], "greedy"),
    ],
    ids=["zero-temperature", "top-p-over-1", "seed-over-int32", "greedy-temperature"],
)
def test_generation_options_that_make_no_sense(model, tmp_path, flags, word):
    with only_changes(tmp_path):
        fails(["generate", model, "abc", *flags], "generate", 2, word, cwd=tmp_path)
