"""The README's Serving examples, run as printed against real servers (on
free ports rather than 8501, which may be taken)."""

import contextlib
import io
import re
import shlex

import pytest
import requests
from serving_support import make_export, served

pytestmark = pytest.mark.slow

README = __import__("pathlib").Path(__file__).resolve().parents[2] / "README.md"
DEFAULT = "http://localhost:8501/v1/models/"


def serving_section():
    text = README.read_text()
    start = text.index("## Serving")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readmes_curl_and_python_examples_work(tmp_path, tmp_path_factory):
    classifier = make_export(tmp_path_factory, "classification", tmp_path / "out" / "x")
    generator = make_export(
        tmp_path_factory, "generation", tmp_path / "out" / "generation"
    )
    section = serving_section()
    with (
        served(classifier.parent, "--name", "my_task") as my_task,
        served(generator.parent) as generation,
    ):
        urls = {
            DEFAULT + "my_task": my_task.url,
            DEFAULT + "generation": generation.url,
        }

        def local(url):
            for printed, running in urls.items():
                url = url.replace(printed, running)
            return url

        # curl: the GETs, and the POST with its -d body
        shell = re.search(r"From another terminal.*?```sh\n(.*?)```", section, re.S)
        lines = shell.group(1).replace("\\\n", " ").splitlines()
        answers = []
        for line in lines:
            words = shlex.split(line, comments=True)
            if not words:
                continue  # a comment: the answer's shape
            assert words[0] == "curl"
            if words[1] == "-d":
                answers.append(requests.post(local(words[3]), data=words[2]).json())
            else:
                answers.append(requests.get(local(words[1])).json())
        status, metadata, predictions = answers
        assert status["model_version_status"][0]["state"] == "AVAILABLE"
        assert (
            "serving_default" in metadata["metadata"]["signature_def"]["signature_def"]
        )
        assert [set(row) for row in predictions["predictions"]] == [
            {"label", "probabilities"}
        ] * 2

        # Python with requests, its URLs pointed at the running servers
        code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
        for printed, running in urls.items():
            code = code.replace(printed, running)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), {})
    label, text = printed.getvalue().split("\n", 1)
    assert label in {"odd", "even"}
    assert text.startswith("LAWYER, n.")
