"""The examples in the docstrings and the README run and print what they say."""

import doctest
import importlib
import pathlib
import re

import keras
import numpy as np
import pytest

from rnnkit.layers.fused_loop import STEP_PROJECTION_MIN_BATCH

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = [
    "rnnkit.layers.simple_rnn_cell",
    "rnnkit.layers.gru_cell",
    "rnnkit.layers.lstm_cell",
    "rnnkit.layers.simple_rnn",
    "rnnkit.layers.gru",
    "rnnkit.layers.lstm",
    "rnnkit.layers.factory",
    "rnnkit.layers.bidirectional",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    globs = {**vars(module), "np": np, "keras": keras}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name, globs=globs) if t.examples]
    assert tests, f"{name} has no examples"
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} example(s) failed in {name}"


def test_readme_python_example_runs():
    readme = (ROOT / "README.md").read_text()
    # "Editing a template" shows excerpts of a task.py, not programs; its
    # edits are made and run by tests/cli/test_editing_a_template.py.
    # "Serving" is a client of a running server: tests/serving/test_readme.py
    # runs it against one.
    for section in ("## Editing a template", "## Serving"):
        start = readme.index(section)
        end = readme.index("\n## ", start + 1)
        readme = readme[:start] + readme[end:]
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_the_docs_name_the_step_projection_threshold():
    # The README and the layers' docstrings spell the threshold out as a
    # number; this keeps them in step with the constant the loop uses.
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for name in ("simple_rnn", "gru", "lstm"):
        module = importlib.import_module(f"rnnkit.layers.{name}")
        texts[name] = pathlib.Path(module.__file__).read_text()
    for where, text in texts.items():
        # the docstrings fold lines, so "32 rows" may span a line break
        found = re.findall(r"(\d+)\s+rows\s+or\s+more", text)
        assert found, f"{where} no longer names the threshold"
        assert set(found) == {str(STEP_PROJECTION_MIN_BATCH)}, where
