"""Server-side batching: concurrent requests share model calls, and each
request gets exactly the answer it gets alone, whatever it was batched
with (seeded sampling and beam search included)."""

import threading

import numpy as np
import pytest
from serving_support import make_export, served

from rnnkit.serving import app, batching, versions

pytestmark = pytest.mark.slow

# Texts of different lengths, so that a gathered batch pads the shorter ones.
TEXTS = [" ".join(["hello world"] * (1 + i % 5)) + f" {i}" for i in range(32)]
SAMPLED = {"max_length": 12, "temperature": 1.3, "top_k": 0, "top_p": 0.95, "seed": 7}
BODIES = {
    "classification": [{"instances": [text]} for text in TEXTS],
    "translation": [
        {
            "signature_name": "translate",
            "inputs": {"text": [text], "beam_width": 3, "max_length": 10},
        }
        for text in TEXTS
    ],
    "generation": [
        {"signature_name": "generate", "inputs": {"prompt": [text], **SAMPLED}}
        for text in TEXTS
    ],
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("batching")
    return {
        kind: make_export(tmp_path_factory, kind, root / "out" / kind)
        for kind in BODIES
    }


def concurrently(function, arguments):
    """`function(argument)` for each argument, all in threads started
    together; the results in order."""
    results = [None] * len(arguments)
    start = threading.Barrier(len(arguments))

    def work(index):
        start.wait()
        results[index] = function(arguments[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(arguments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def assert_same_answers(alone, together):
    for one, other in zip(alone, together):
        assert one[0] == other[0] == 200, (one, other)
        key = "predictions" if "predictions" in one[1] else "outputs"
        first, second = one[1][key], other[1][key]
        if key == "predictions" and isinstance(first[0], dict):  # classification
            assert [r["label"] for r in first] == [r["label"] for r in second]
            np.testing.assert_allclose(
                [r["probabilities"] for r in first],
                [r["probabilities"] for r in second],
                atol=1e-6,
            )
        else:
            assert first == second  # strings: exactly the same


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_32_concurrent_clients_get_the_answers_they_get_alone(exports, kind):
    with served(exports[kind].parent, "--no-batching") as server:
        alone = [server.predict(body) for body in BODIES[kind]]
    # A long wait, so that the 32 requests surely gather into shared calls.
    flags = ["--max-batch-size", "8", "--batch-timeout-ms", "200"]
    with served(exports[kind].parent, *flags) as server:

        def ask(body):
            import requests

            response = requests.post(server.url + ":predict", json=body, timeout=120)
            return response.status_code, response.json()

        together = concurrently(ask, BODIES[kind])
    assert_same_answers(alone, together)


def local_app(path, batcher):
    watcher = versions.VersionWatcher(path)
    watcher.start()
    watcher.stop()
    return app.ServingApp(path.parent.name, watcher, batcher)


def test_concurrent_requests_share_calls_and_only_with_the_same_options(exports):
    """In-process, to count the model calls a `Batcher` makes."""
    import json

    path = exports["generation"]
    url = f"/v1/models/{path.parent.name}:predict"
    bodies = [json.dumps(body).encode() for body in BODIES["generation"][:16]]
    # Half of them with another seed: those must not share a call with the rest.
    for index in range(8):
        body = BODIES["generation"][index]
        other = {**body, "inputs": {**body["inputs"], "seed": 8}}
        bodies[index] = json.dumps(other).encode()
    alone = [local_app(path, None).post(url, body) for body in bodies]
    batcher = batching.Batcher(max_batch_size=32, timeout=0.5, wait_alone=True)
    shared = local_app(path, batcher)
    together = concurrently(lambda body: shared.post(url, body), bodies)
    assert together == alone
    assert 2 <= batcher.calls < len(bodies)


def test_a_full_batch_runs_without_waiting_out_the_timeout(exports):
    import time

    path = exports["classification"]
    url = f"/v1/models/{path.parent.name}:predict"
    batcher = batching.Batcher(max_batch_size=4, timeout=30, wait_alone=True)
    shared = local_app(path, batcher)
    body = b'{"instances": ["hello world"]}'
    began = time.monotonic()
    answers = concurrently(lambda b: shared.post(url, b), [body] * 4)
    assert time.monotonic() - began < 20  # not the 30 s timeout
    assert batcher.calls == 1
    assert len({str(a) for a in answers}) == 1


def test_a_lone_request_does_not_wait_for_company(exports):
    import time

    path = exports["classification"]
    batcher = batching.Batcher(max_batch_size=4, timeout=30)
    shared = local_app(path, batcher)
    began = time.monotonic()
    url = f"/v1/models/{path.parent.name}:predict"
    assert shared.post(url, b'{"instances": ["hello world"]}')[0] == 200
    assert time.monotonic() - began < 20  # not the 30 s timeout


def test_only_signatures_with_fixed_shape_outputs_are_batched(exports):
    """An attention map or token list grows with a batch's longest text, so
    those signatures run each request alone."""
    batched = {kind: versions.load(path, 1).batchable for kind, path in exports.items()}
    assert batched == {
        # a classifier's token ids are padded to its fixed sequence_length
        "classification": {"serving_default", "tokenize"},
        "generation": {"serving_default", "generate", "score"},
        "translation": {"serving_default", "translate"},
    }
