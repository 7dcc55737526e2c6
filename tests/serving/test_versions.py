"""The life of a served model: new versions swapped in under load without a
failed request, broken versions skipped, a clean stop on SIGTERM or Ctrl-C
mid-request, and one-line errors for what cannot be served."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from serving_support import Served, copy_version, make_export, served

pytestmark = pytest.mark.slow

TEXT = {"instances": ["hello world 7"]}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Two classification exports with different weights, and a generation
    export."""
    root = tmp_path_factory.mktemp("versions")
    return {
        "a": make_export(tmp_path_factory, "classification", root / "a", seed=1),
        "b": make_export(tmp_path_factory, "classification", root / "b", seed=2),
        "generation": make_export(tmp_path_factory, "generation", root / "generation"),
    }


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_new_version_is_swapped_in_while_clients_send(exports, tmp_path):
    model = tmp_path / "my_model"
    copy_version(exports["a"], model / "1")
    with served(model, "--poll-seconds", "0.2") as server:
        answer_a = server.predict(TEXT)
        answers = [[] for _ in range(4)]
        stop = threading.Event()

        def client(seen):
            with requests.Session() as session:
                while not stop.is_set():
                    response = session.post(server.url + ":predict", json=TEXT)
                    seen.append((response.status_code, response.json()))

        threads = [threading.Thread(target=client, args=(s,)) for s in answers]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        copy_version(exports["b"], model / "2")  # file by file, as `cp -r`
        wait_for(lambda: server.get()[1]["model_version_status"][0]["version"] == "2")
        # every client has had an answer from version 2; a fixed sleep was too
        # short for a slow client on a loaded machine
        wait_for(lambda: all(s and s[-1][1] != answer_a[1] for s in answers))
        stop.set()
        for thread in threads:
            thread.join()
        answer_b = server.predict(TEXT)
        status = server.get()[1]["model_version_status"]
        assert server.get("/metadata")[1]["model_spec"]["version"] == "2"
    assert answer_a != answer_b  # other weights, other probabilities
    assert [(s["version"], s["state"]) for s in status] == [
        ("2", "AVAILABLE"),
        ("1", "END"),
    ]
    for seen in answers:
        assert seen and all(status == 200 for status, _ in seen)
        # each client sees version 1's answers, then version 2's, never back
        switch = [answer == answer_b[1] for _, answer in seen]
        assert switch == sorted(switch) and switch[0] is False and switch[-1]
        assert all(answer in (answer_a[1], answer_b[1]) for _, answer in seen)


def test_a_broken_version_is_skipped_and_the_old_one_stays_up(exports, tmp_path):
    model = tmp_path / "my_model"
    copy_version(exports["a"], model / "1")
    with served(model, "--poll-seconds", "0.2") as server:
        before = server.predict(TEXT)
        broken = model / "2"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a protocol buffer")
        wait_for(lambda: len(server.get()[1]["model_version_status"]) == 2)
        rows = server.get()[1]["model_version_status"]
        assert server.predict(TEXT) == before
        # once repaired (its files change), it is tried again and served
        shutil.rmtree(broken)
        copy_version(exports["b"], broken)
        wait_for(
            lambda: (
                server.get()[1]["model_version_status"][0]["state"] == "AVAILABLE"
                and server.get()[1]["model_version_status"][0]["version"] == "2"
            )
        )
        assert server.predict(TEXT) != before
        _, stderr = server.stop()
    assert rows[0]["version"] == "2" and rows[0]["state"] == "END"
    assert "damaged or incomplete" in rows[0]["status"]["error_message"]
    assert rows[1]["state"] == "AVAILABLE"
    assert "version 2 not served" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_mid_request_finishes_the_request_and_exits_cleanly(exports, signum):
    server = Served(exports["generation"].parent)
    inputs = {
        "prompt": ["the quick brown fox"] * 1000,
        "max_length": 2048,
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": 1,
    }
    result = {}

    def slow_request():
        body = {"signature_name": "generate", "inputs": inputs}
        result["answer"] = requests.post(
            server.url + ":predict", json=body, timeout=120
        )

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)
    status, stderr = server.stop(signum)
    thread.join()
    assert result["answer"].status_code == 200
    assert len(result["answer"].json()["outputs"]) == 1000
    assert status == 0, stderr[-3000:]  # a crash at exit shows its message
    assert stderr.strip().splitlines()[-1] == "stopped"
    assert "Traceback" not in stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=5)


def test_a_version_folder_is_served_alone_under_its_models_name(exports):
    with served(exports["a"]) as server:
        assert (server.name, server.version) == ("a", 1)
        assert server.url.startswith("http://127.0.0.1:")  # not every interface
        assert server.signatures == ["serving_default", "tokenize"]
        assert server.predict(TEXT)[0] == 200


def run_serve(*args):
    command = [sys.executable, "-m", "rnnkit", "serve", *map(str, args)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--port", "70000"], r"--port must be in 0\.\.65535"),
        (["--max-batch-size", "0"], r"--max-batch-size must be at least 1"),
        (["--name", "../x"], r"--name"),
    ],
)
def test_bad_arguments_are_one_line(exports, args, message):
    import re

    result = run_serve(exports["a"].parent, *args)
    assert result.returncode == 2
    assert re.search(r"^rnnkit serve: error: .*" + message, result.stderr, re.M)
    assert "Traceback" not in result.stderr


def test_nothing_to_serve_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for path, message in [
        (tmp_path / "empty", "no version folder (1, 2, ...) with a loadable"),
        (tmp_path / "missing", "no such folder"),
    ]:
        result = run_serve(path)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr.splitlines()[-1]
        assert "Traceback" not in result.stderr


def test_a_port_in_use_is_one_line(exports):
    with served(exports["a"].parent) as server:
        port = server.url.split(":")[2].split("/")[0]
        result = run_serve(exports["a"].parent, "--port", port)
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is in use; choose another --port" in result.stderr
