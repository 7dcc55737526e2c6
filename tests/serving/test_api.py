"""`rnnkit serve` speaks TF Serving's REST API: every template's every
signature in both request forms, answered as the SavedModel answers
in-process, with TF Serving's JSON shapes, and one-line errors with TF
Serving's status codes for bad requests. A real server process, a real
HTTP client."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf
from serving_support import make_export, served
from tensorflow.core.framework import types_pb2

from rnnkit.templates import export, tasks

pytestmark = pytest.mark.slow

TEXTS = ["hello world 3", "a", "\u2603 snow caf\u00e9"]
MAX_BODY_MB = 0.05  # the classification server's cap, for the 413 test


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A server of each template's export, with the export's signatures
    loaded in-process to compare with."""
    root = tmp_path_factory.mktemp("served")
    running = {}
    for kind in tasks.BUILT_IN:
        path = make_export(tmp_path_factory, kind, root / "out" / kind)
        flags = ["--max-body-mb", str(MAX_BODY_MB)] if kind == "classification" else []
        server = served(path.parent, *flags)
        running[kind] = (server.__enter__(), server, path)
    yield {
        kind: (api, tf.saved_model.load(str(path)).signatures, path)
        for kind, (api, _, path) in running.items()
    }
    for _, server, _ in running.values():
        server.__exit__(None, None, None)


def requests_of(path):
    """`(signature, columnar inputs)` for every signature of an export: the
    texts, and each option at its default."""
    serving = export.read_metadata(path)["serving"]
    for name, entry in serving["signatures"].items():
        text_input = entry["inputs"][0]
        yield name, {text_input: TEXTS, **entry["defaults"]}


def in_process(signatures, name, inputs):
    specs = signatures[name].structured_input_signature[1]
    outputs = signatures[name](
        **{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()}
    )
    return {k: v.numpy() for k, v in outputs.items()}


def assert_same(expected, served_value):
    expected = np.asarray(expected)
    if expected.dtype.kind in "OSU":
        decoded = np.vectorize(lambda b: b.decode(), otypes=[object])(expected)
        assert decoded.tolist() == served_value
    else:
        np.testing.assert_array_equal(
            np.asarray(served_value, expected.dtype), expected
        )


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_every_signature_in_the_columnar_form(servers, kind):
    api, signatures, path = servers[kind]
    for name, inputs in requests_of(path):
        status, answer = api.predict({"signature_name": name, "inputs": inputs})
        assert status == 200, answer
        expected = in_process(signatures, name, inputs)
        outputs = answer["outputs"]
        if len(expected) == 1:  # one output: its value, without its name
            outputs = {next(iter(expected)): outputs}
        assert set(outputs) == set(expected), name
        for key, value in expected.items():
            assert_same(value, outputs[key])


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_signatures_without_options_in_the_row_form(servers, kind):
    api, signatures, path = servers[kind]
    for name, inputs in requests_of(path):
        if len(inputs) > 1:
            continue  # scalar options: columnar only (next test)
        (text_input,) = inputs
        status, answer = api.predict({"signature_name": name, "instances": TEXTS})
        assert status == 200, answer
        expected = in_process(signatures, name, inputs)
        rows = answer["predictions"]
        assert len(rows) == len(TEXTS)
        if len(expected) == 1:
            rows = [{next(iter(expected)): row} for row in rows]
        for key, value in expected.items():
            assert_same(value, [row[key] for row in rows])
        # Instances may also be objects naming the input.
        named = [{text_input: text} for text in TEXTS]
        again = api.predict({"signature_name": name, "instances": named})
        assert again == (200, answer)


def test_the_row_form_refuses_scalar_options_as_tf_serving_does(servers):
    api, _, _ = servers["generation"]
    body = {"signature_name": "generate", "instances": [{"prompt": "a", "seed": 1}]}
    status, answer = api.predict(body)
    assert status == 400
    assert "takes scalar inputs" in answer["error"]
    assert '{"inputs": {' in answer["error"]


def test_seeded_sampling_is_reproducible_over_http(servers):
    api, _, _ = servers["generation"]
    options = {"max_length": 20, "temperature": 1.5, "top_k": 0, "top_p": 1.0}
    first = api.predict(
        {
            "signature_name": "generate",
            "inputs": {"prompt": TEXTS, **options, "seed": 5},
        }
    )
    again = api.predict(
        {
            "signature_name": "generate",
            "inputs": {"prompt": TEXTS, **options, "seed": 5},
        }
    )
    other = api.predict(
        {
            "signature_name": "generate",
            "inputs": {"prompt": TEXTS, **options, "seed": 6},
        }
    )
    assert first == again
    assert first[0] == other[0] == 200 and first[1] != other[1]


def test_greedy_generation_over_http_is_the_in_process_answer(servers):
    api, signatures, _ = servers["generation"]
    inputs = {
        "prompt": TEXTS,
        "max_length": 15,
        "temperature": 1.0,
        "top_k": 1,
        "top_p": 1.0,
        "seed": 3,
    }
    status, answer = api.predict({"signature_name": "generate", "inputs": inputs})
    assert status == 200
    assert_same(in_process(signatures, "generate", inputs)["text"], answer["outputs"])


def test_model_status_has_tf_servings_shape(servers):
    """The shape of TF Serving's documented `curl .../v1/models/<name>`."""
    api, _, _ = servers["classification"]
    expected = {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert api.get() == (200, expected)
    assert api.get("/versions/1") == (200, expected)
    status, answer = api.get("/versions/2")
    assert status == 404 and "version 2" in answer["error"]


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_metadata_is_the_saved_models_signature_defs(servers, kind):
    api, signatures, _ = servers[kind]
    status, answer = api.get("/metadata")
    assert status == 200
    assert answer["model_spec"] == {"name": kind, "signature_name": "", "version": "1"}
    defs = answer["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) <= set(defs)
    assert api.get("/versions/1/metadata") == (status, answer)
    for name, function in signatures.items():
        specs = function.structured_input_signature[1]
        assert set(defs[name]["inputs"]) == set(specs)
        assert defs[name]["method_name"] == "tensorflow/serving/predict"
        for key, spec in specs.items():
            entry = defs[name]["inputs"][key]
            dtype = types_pb2.DataType.Name(spec.dtype.as_datatype_enum)
            assert entry["dtype"] == dtype
            sizes = [int(d["size"]) for d in entry["tensor_shape"]["dim"]]
            assert sizes == [-1 if d is None else d for d in spec.shape]
            assert entry["tensor_shape"]["unknown_rank"] is False
            assert entry["name"].endswith(":0")
        assert set(defs[name]["outputs"]) == set(function.structured_outputs)


def test_strings_in_b64_are_the_same_strings(servers):
    import base64

    api, _, _ = servers["classification"]
    encoded = [{"b64": base64.b64encode(t.encode()).decode()} for t in TEXTS]
    assert api.predict({"instances": encoded}) == api.predict({"instances": TEXTS})


BAD_REQUESTS = [
    # (body, URL suffix before :predict, status, error pattern)
    (b'{"instances": ["a"', "", 400, r"^malformed JSON: .* line 1 column"),
    (b"[1, 2]", "", 400, r"must be a JSON object"),
    (b"\xff\xfe", "", 400, r"not UTF-8 JSON"),
    ({"inputs": {"txt": ["a"]}}, "", 400, r"takes the inputs \['text'\]; missing"),
    ({"instances": [{"txt": "a"}]}, "", 400, r"instance 0 must be an object"),
    ({"instances": [1, 2]}, "", 400, r"input 'text' takes string values"),
    ({"inputs": [["a"]]}, "", 400, r"'text' must have shape \[None\]"),
    ({"instances": []}, "", 400, r"the batch is empty"),
    ({"instances": ["a"] * 1025}, "", 400, r"1025 examples; .* at most 1024"),
    ({"instances": ["a"], "inputs": ["a"]}, "", 400, r"exactly one of"),
    ({"signature_name": "serving_default"}, "", 400, r"exactly one of"),
    ({"instances": ["a"], "extra": 1}, "", 400, r"unknown request field"),
    ({"instances": ["a"], "signature_name": "nope"}, "", 404, r"signature 'nope'"),
    ({"instances": ["a"]}, "/versions/9", 404, r"version 9 .* not served"),
    ({"instances": ["x" * 60_000]}, "", 413, r"at most 52,428"),
]


@pytest.mark.parametrize("body,suffix,status,pattern", BAD_REQUESTS)
def test_a_bad_request_gets_its_status_and_one_line(
    servers, body, suffix, status, pattern
):
    api, _, _ = servers["classification"]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = api.session.post(api.url + suffix + ":predict", data=data, timeout=60)
    assert response.status_code == status
    answer = response.json()
    assert list(answer) == ["error"] and "\n" not in answer["error"]
    assert re.search(pattern, answer["error"]), answer


@pytest.mark.parametrize(
    "method,path,status,pattern",
    [
        ("post", "/v1/models/other:predict", 404, r"model 'other' not found"),
        ("get", "/v1/models/other", 404, r"model 'other' not found"),
        ("get", "/v2/anything", 404, r"no such path"),
        # a name is compared with the served one, never used as a path
        ("get", "/v1/models/..%2F..%2Fetc", 404, r"model '..%2F..%2Fetc' not found"),
        ("get", "/v1/models/../../etc/passwd", 404, r"no such path"),
        ("post", "/v1/models/classification:classify", 400, r"use :predict"),
        ("get", "/v1/models/classification/labels/stable", 404, r"labels"),
        ("get", "/v1/models/classification/versions/x", 400, r"integer"),
        ("delete", "/v1/models/classification", 405, r"DELETE is not allowed"),
    ],
)
def test_unknown_models_paths_and_verbs(servers, method, path, status, pattern):
    api, _, _ = servers["classification"]
    base = api.url.split("/v1/")[0]
    response = getattr(api.session, method)(base + path, data=b"{}", timeout=60)
    assert response.status_code == status
    assert re.search(pattern, response.json()["error"])


def test_generation_option_errors_are_400s_naming_the_option(servers):
    api, _, _ = servers["generation"]
    inputs = {
        "prompt": ["a"],
        "max_length": 5,
        "temperature": 0.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": 1,
    }
    status, answer = api.predict({"signature_name": "generate", "inputs": inputs})
    assert status == 400 and answer["error"].startswith("temperature must be > 0")
    inputs.update(temperature=1.0, seed=2**40)
    status, answer = api.predict({"signature_name": "generate", "inputs": inputs})
    assert status == 400 and "'seed' must be within the int32 range" in answer["error"]
