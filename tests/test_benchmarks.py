"""The benchmark scripts run and print their tables (tiny sizes: what they
measure is for people to read, not for tests to time)."""

import os
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
@pytest.mark.parametrize(
    "script,args,header",
    [
        (
            "layers.py",
            [
                "--kinds",
                "gru",
                "--batch",
                "4",
                "--timesteps",
                "5",
                "--features",
                "3",
                "--units",
                "4",
                "--batches",
                "1",
                "--repeats",
                "1",
            ],
            "| kind | phase |",
        ),
        (
            "layers.py",
            ["--kinds", "lstm", "--batch", "2", "--timesteps", "3", "--features"]
            + ["2", "--units", "3", "--batches", "1", "--repeats", "1"]
            + ["--bidirectional", "--policy", "mixed_bfloat16"]
            + ["--intra-op-threads", "1"],
            "| kind | phase |",
        ),
        (
            "layers.py",
            ["--kinds", "gru", "--batch", "2", "--timesteps", "3", "--features"]
            + ["2", "--units", "3", "--batches", "1", "--repeats", "1"]
            + ["--bidirectional", "--keras-wrapper"],
            "| kind | phase |",
        ),
        (
            "bfloat16.py",
            ["--kinds", "rnn", "--units", "3", "--batch", "2", "--timesteps", "3"]
            + ["--features", "2", "--batches", "1", "--repeats", "1"],
            "| kind | units | layers |",
        ),
        (
            "templates.py",
            ["--kinds", "classification", "--steps", "1", "--repeats", "1"]
            + ["--set", "units=4", "--set", "embedding_dim=4"]
            + ["--intra-op-threads", "1"],
            "| template | cell |",
        ),
        (
            "generation.py",
            ["--tokens", "4", "--batch", "2", "--repeats", "1"],
            "| method | tokens/s |",
        ),
        (
            "translation.py",
            ["--batch", "2", "--repeats", "1"],
            "| method | sentences/s |",
        ),
        (
            "loop_unrolling.py",
            ["--kinds", "rnn", "--factors", "1", "2", "--batch", "2"]
            + ["--timesteps", "5", "--features", "3", "--units", "4", "--repeats", "1"],
            "| kind | layer |",
        ),
        (
            "gradient_scales.py",
            ["--scales", "0.5", "2", "--lag", "3", "--units", "2"]
            + ["--features", "2", "--batch", "2", "--seeds", "0"],
            "| input scale | rnn |",
        ),
        (
            "tuning.py",
            ["--trials", "2", "--epochs", "1", "--report", "1", "2"],
            "| after trial | search MiB |",
        ),
        (
            "tuning.py",
            ["--workers", "1", "2", "--trials", "2", "--epochs", "1"],
            "| workers | threads each |",
        ),
        (
            "serving.py",
            ["--clients", "1", "2", "--requests", "8", "--repeats", "1"]
            + ["--set", "units=8", "--set", "embedding_dim=4"],
            "| clients | method |",
        ),
        (
            "start_up.py",
            ["--repeats", "1"],
            "| start | wall s |",
        ),
        (
            "first_step.py",
            ["--kinds", "classification", "--steps", "2", "--repeats", "1"]
            + ["--set", "units=4", "--set", "embedding_dim=4"],
            "| template | first epoch",
        ),
        (
            "data_scale.py",
            ["--rows", "300", "--megabytes", "0.05", "--steps", "2"],
            "| data | rows |",
        ),
    ],
)
def test_benchmark_prints_its_table(script, args, header):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith(header) and len(table) >= 3
    if script == "layers.py":  # one row per phase, fit's to the serving call's
        phases = [row.strip("|").split("|")[1].strip() for row in table[2:]]
        assert phases == ["train", "infer", "call", "serve"]
    if "--intra-op-threads" in args:
        # TensorFlow's thread pool, set before the timing, is in the report.
        assert "intra-op threads 1" in result.stdout


@pytest.mark.slow
def test_memory_tasks_prints_its_table_and_plots(tmp_path):
    out = tmp_path / "memory.png"
    tiny = ["--timesteps", "6", "--steps", "4", "--eval-every", "2", "--batch", "4"]
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "memory_tasks.py"), *tiny, "--units", "3"]
        + ["--test-size", "8", "--seeds", "0", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| task | cell |") and len(table) == 2 + 6
    assert all(" ± " in row for row in table[2:])
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_quality_prints_the_baselines_and_the_default_model(tmp_path):
    out, kept = tmp_path / "quality.md", tmp_path / "kept"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "quality.py"), "--out", str(out)]
        + ["--keep", str(kept)]
        + ["--templates", "classification", "generation", "--tune"]
        + ["--set", "epochs=1", "--set", "units=8", "--set", "embedding_dim=4"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    header, *rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines]
    columns = ["template", "model", "accuracy", "macro_f1", "bits_per_char"]
    assert header == [*columns, "seconds"]
    names = {(row[0], row[1].split(" (")[0]) for row in rows}
    assert ("classification", "TF-IDF word 1-2-grams + logistic regression") in names
    assert ("generation", "bz2, given the training text") in names
    trained = [row for row in rows if row[1].startswith("rnnkit train")]
    assert [row[0] for row in trained] == ["classification", "generation"]
    assert all("gru 8" in row[1] for row in trained)  # the --set settings
    assert 0 < float(trained[0][2]) <= 1 and float(trained[1][4]) > 0
    # --keep: each template's runs stay, with their per-epoch history
    for kind in ("classification", "generation"):
        (history,) = (kept / kind / "runs").glob("*/history.csv")
        assert history.read_text().splitlines()[0].startswith("epoch,")
        assert len(history.read_text().splitlines()) == 2  # epochs=1


@pytest.mark.parametrize(
    "occupant,message",
    [("classification/", "the folder is not empty"), ("notes.txt", "not a folder")],
)
def test_quality_refuses_to_keep_into_a_folder_in_use(tmp_path, occupant, message):
    # A search left there would be resumed, not run; a file is no folder.
    if occupant.endswith("/"):
        (tmp_path / occupant).mkdir()
        keep = tmp_path
    else:
        keep = tmp_path / occupant
        keep.write_text("mine")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "quality.py"), "--keep", str(keep)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert f"--keep {keep}: {message}" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [occupant.rstrip("/")]
    if keep.is_file():
        assert keep.read_text() == "mine"


def python_with_torch():
    """A Python that has PyTorch: $TORCH_PYTHON, or this one if it has it."""
    candidates = [os.environ.get("TORCH_PYTHON"), sys.executable]
    for python in filter(None, candidates):
        found = subprocess.run([python, "-c", "import torch"], capture_output=True)
        if found.returncode == 0:
            return python
    return None


@pytest.mark.slow
def test_layers_adds_a_pytorch_column_where_pytorch_is_installed():
    python = python_with_torch()
    if python is None:
        pytest.skip("no Python with PyTorch (set TORCH_PYTHON to one)")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "layers.py"), "--torch", python]
        + ["--kinds", "gru", "--batch", "4", "--timesteps", "5", "--features"]
        + ["3", "--units", "4", "--batches", "1", "--repeats", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert table[0].endswith("| PyTorch steps/s | rnnkit vs PyTorch |")
    for row in table[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 8
        if cells[1] in ("call", "serve"):  # PyTorch times fit and predict only
            assert cells[-2:] == ["", ""]
            continue
        assert (
            float(cells[-1].rstrip("x")) > 0 and float(cells[-2].replace(",", "")) > 0
        )
