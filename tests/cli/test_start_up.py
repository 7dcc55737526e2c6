"""Commands that only run SavedModels start without Keras's scikit-learn and
matplotlib integrations (quiet_start.load_tensorflow), and every other
command with them."""

import os
import subprocess
import sys

import pytest

from rnnkit import cli
from rnnkit.templates import quiet_start

SAVED_MODEL_COMMANDS = [
    ["predict", "model", "a text"],
    ["generate", "model", "a prompt"],
    ["translate", "model", "a text"],
    ["attention", "model", "a text"],
    ["info", "model"],
    ["serve", "model"],
]
TASK_COMMANDS = [
    ["train", "task"],
    ["evaluate", "task", "--data", "held-out.csv"],
    ["export", "task"],
    ["tune", "task"],
    ["diagnose", "gates", "task", "a text"],
]


@pytest.mark.parametrize("argv", SAVED_MODEL_COMMANDS, ids=lambda a: a[0])
def test_saved_model_commands_skip_keras_extras(argv):
    assert cli.build_parser().parse_args(argv).saved_model_only is True


@pytest.mark.parametrize("argv", TASK_COMMANDS, ids=lambda a: a[0])
def test_commands_that_run_a_tasks_code_keep_them(argv):
    # A task's own code may use keras.wrappers or keras.visualization.
    args = cli.build_parser().parse_args(argv)
    assert not getattr(args, "saved_model_only", False)


def test_hidden_modules_fail_inside_the_block_and_import_after_it():
    sys.modules.pop("colorsys", None)
    with quiet_start.without_modules(["colorsys", "json"]):
        with pytest.raises(ImportError):
            import colorsys  # noqa: F401
        import json  # imported before the block: untouched

        assert json.dumps(1) == "1"
    import colorsys

    assert colorsys.rgb_to_hsv(1, 0, 0) == (0, 1, 1)


def printed_lines(script):
    """The lines `script` prints in a fresh interpreter (this one has
    imported Keras, with its extras)."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\n")


@pytest.mark.slow
def test_tensorflow_without_keras_extras_leaves_them_for_rnnkit():
    script = (
        "import sys\n"
        "from rnnkit.templates import quiet_start\n"
        "quiet_start.load_tensorflow(keras_extras=False)\n"
        "print(sorted(set(quiet_start.KERAS_EXTRAS) & sys.modules.keys()))\n"
        "import keras, tensorflow as tf\n"
        "print(float(keras.layers.Dense(1)(tf.ones((1, 2))).shape[-1]))\n"
        "import matplotlib.pyplot, sklearn.svm\n"  # rnnkit's plots, baselines
        "print(sorted(set(quiet_start.KERAS_EXTRAS) & sys.modules.keys()))\n"
    )
    lines = printed_lines(script)
    assert lines[:3] == ["[]", "1.0", "['matplotlib', 'sklearn']"]


@pytest.mark.slow
def test_the_exports_check_loads_tensorflow_without_keras_extras():
    from rnnkit.templates import export

    # The check's own lines up to its TensorFlow import, in a fresh process.
    preamble, _ = export.VERIFY_SCRIPT.split("import tensorflow as tf\n", 1)
    script = preamble + (
        "import tensorflow as tf, keras\n"
        "print(float(keras.layers.Dense(1)(tf.ones((1, 2))).shape[-1]))\n"
        "extras = ('sklearn', 'matplotlib')\n"
        "print(sorted(m for m in extras if sys.modules.get(m) is not None))\n"
    )
    assert printed_lines(script)[:2] == ["1.0", "[]"]
