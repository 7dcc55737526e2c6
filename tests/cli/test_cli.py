"""The `rnnkit` command line, run as a user would run it, in a subprocess."""

import re
import shlex
import subprocess
import sys

import pytest
import requests
from cli_support import MODULE, TF_LOG_LINE, console_script, run

import rnnkit


def commands():
    found = [pytest.param(MODULE, id="python-m")]
    script = console_script()
    marks = [] if script else [pytest.mark.skip(reason="no rnnkit console script")]
    found.append(pytest.param([script or "rnnkit"], id="console-script", marks=marks))
    return found


@pytest.mark.parametrize("command", commands())
def test_version(command):
    result = run(["--version"], command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"rnnkit {rnnkit.__version__}"


@pytest.mark.parametrize("command", commands())
def test_help_lists_demo(command):
    result = run(["--help"], command)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: rnnkit")
    assert re.search(r"^\s+demo\s+\S", result.stdout, re.MULTILINE)


def test_demo_help():
    result = run(["demo", "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: rnnkit demo")
    for option in ("--timesteps", "--epochs", "--seed"):
        assert option in result.stdout


def test_no_command_prints_help_and_fails():
    result = run([])
    assert result.returncode != 0
    assert result.stdout.startswith("usage: rnnkit")
    assert "demo" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["--epochs", "0"], ["layers", "--timesteps", "1"], ["--max-trials", "0"]],
    ids=["epochs-0", "timesteps-1", "max-trials-0"],
)
def test_demo_rejects_bad_numbers_in_one_line(args):
    result = run(["demo", *args])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not TF_LOG_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rnnkit demo: error: ")
    assert args[-2] in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args,message",
    [
        (["demo", "--epochs", "0"], "--epochs must be at least 1"),
        (["train", "classification", "--set", "unitz=3"], "unknown key `unitz`"),
    ],
)
def test_usage_errors_answer_before_importing_tensorflow(args, message):
    script = (
        "import sys\n"
        "from rnnkit.cli import main\n"
        f"assert main({args!r}) == 2\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    result = run(["-c", script], command=[sys.executable])
    assert result.returncode == 0, result.stderr
    assert message in result.stderr


@pytest.mark.slow
def test_the_workflow_demo_tunes_exports_and_predicts(tmp_path):
    result = run(
        ["demo", "--epochs", "1", "--max-trials", "2", "--dir", str(tmp_path)],
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [
        line.split(" ", 2)[1:] for line in lines if line[:2] in {"1.", "2.", "3.", "4."}
    ]
    assert [command for command, _ in steps] == ["rnnkit"] * 4
    assert [rest.split()[0] for _, rest in steps] == [
        "new",
        "tune",
        "export",
        "predict",
    ]
    assert [line.split()[1] for line in lines if line.startswith("trial ")] == [
        "1/2",
        "2/2",
    ]
    assert (
        tmp_path / "saved_models" / "classification" / "1" / "saved_model.pb"
    ).is_file()
    labels = {"computers", "food", "law", "love", "politics", "science", "sports"}
    answers = [line.rsplit(" -> ", 1)[1].strip("'") for line in lines if " -> " in line]
    assert len(answers) == 3 and set(answers) <= labels
    # It ends with the serve and curl lines; they work as printed (on a
    # free port rather than 8501, which may be taken).
    serve, curl = shlex.split(lines[-3]), shlex.split(lines[-1])
    assert serve[:2] == ["rnnkit", "serve"] and curl[0] == "curl"
    assert curl[-1] == "http://localhost:8501/v1/models/classification:predict"
    server = subprocess.Popen(
        [*MODULE, *serve[1:], "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = re.search(r"at (http://\S+) ", server.stdout.readline()).group(1)
        response = requests.post(url + ":predict", data=curl[2], timeout=60)
        assert response.json()["predictions"][0]["label"] == answers[-1]
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.mark.slow
def test_demo_runs_and_reports_parity_and_accuracy():
    result = run(["demo", "layers", "--timesteps", "8", "--epochs", "1"], timeout=600)
    assert result.returncode == 0, result.stderr
    parity, _, memory = result.stdout.partition("\n2. ")
    assert parity.startswith("1. Parity with keras.layers")
    gaps = re.findall(r"^\s+(rnn|gru|lstm)\s+(\S+)$", parity, re.MULTILINE)
    assert [kind for kind, _ in gaps] == ["rnn", "gru", "lstm"]
    for kind, gap in gaps:
        assert 0.0 <= float(gap) < 1e-5, (kind, gap)
    rows = re.findall(
        r"^\s+(rnn|gru|lstm)\s+([\d.]+)%\s+([\d,]+)\s+([\d.]+)s$", memory, re.MULTILINE
    )
    assert [row[0] for row in rows] == ["rnn", "gru", "lstm"]
    for _, accuracy, params, _seconds in rows:
        assert 0.0 <= float(accuracy) <= 100.0
        assert int(params.replace(",", "")) > 0
    assert "Best here: " in memory


@pytest.mark.slow
def test_training_prints_no_tensorflow_noise_and_plain_progress(tmp_path):
    from cli_support import TINY, examples, write_csv

    data = write_csv(tmp_path / "d.csv", examples())
    assert run(["new", "classification", str(tmp_path / "t")]).returncode == 0
    # The environment that cli_support sets quiets nothing by itself: drop it.
    result = run(
        ["train", str(tmp_path / "t"), "--data", str(data), *TINY],
        env_overrides={"TF_CPP_MIN_LOG_LEVEL": None},
    )
    assert result.returncode == 0, result.stderr
    noise = [line for line in result.stderr.splitlines() if TF_LOG_LINE.match(line)]
    assert noise == [] and "cuInit" not in result.stderr
    # Into a pipe, Keras's progress is one plain line per epoch.
    assert "\x1b[" not in result.stdout and "\r" not in result.stdout
    assert re.search(r"^\d+/\d+ - \d+s - .*loss: ", result.stdout, re.MULTILINE)
