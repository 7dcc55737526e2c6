"""The user's day in subprocesses: new -> train -> evaluate -> export ->
predict -> info, and what the export promises (RELIABILITY.md 15, 16, 20)."""

import json
import pathlib
import re
import sys

import numpy as np
import pytest
from cli_support import (
    LABELS,
    exported_model,
    next_to_python,
    run,
    trained_task,
)

import rnnkit

pytestmark = pytest.mark.slow

TEXTS = ["ball goal team", "rocket orbit moon", "oven butter sugar"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_task(tmp_path_factory)


@pytest.fixture(scope="module")
def exported(trained):
    return exported_model(trained)


def read_json(path):
    return json.loads(pathlib.Path(path).read_text())


def evaluate_json(target, data, *extra):
    result = run(["evaluate", str(target), "--data", str(data), "--json", *extra])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_train_writes_a_complete_run(trained):
    run_dir = trained.run
    assert run_dir.parent == trained.task / "runs"
    assert re.fullmatch(r"\d{8}-\d{6}-gru", run_dir.name)
    for name in ("model.keras", "config.toml", "history.json", "history.csv"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(p.name.startswith("events.") for p in (run_dir / "logs").rglob("*"))

    metrics = read_json(run_dir / "metrics.json")
    validation = metrics  # the metrics are those of the validation split
    assert metrics["split"] == "validation"
    assert validation["labels"] == LABELS
    assert validation["examples"] == 9  # 20% of 14 rows per label, 3 labels
    matrix = np.array(validation["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 9
    assert validation["accuracy"] == pytest.approx(np.trace(matrix) / 9)
    assert 0.0 <= validation["macro_f1"] <= 1.0
    assert metrics["epochs_trained"] == 1
    assert metrics["train_examples"] == 33
    assert metrics["skipped_lines"] == 0
    assert trained.summary == (
        f"validation: accuracy {validation['accuracy']:.4f}, "
        f"macro_f1 {validation['macro_f1']:.4f}"
    )

    assert len(read_json(run_dir / "history.json")["loss"]) == 1
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2
    config = (run_dir / "config.toml").read_text()
    for line in ("units = 8", "embedding_dim = 8", "sequence_length = 12"):
        assert line in config.splitlines()
    assert f"data = {json.dumps(str(trained.data))}" in config.splitlines()
    meta = read_json(run_dir / "metadata.json")
    assert meta["task"] == "classification" and meta["labels"] == LABELS


def test_evaluate_run_and_saved_model_agree(trained, exported):
    on_run = evaluate_json(trained.run, trained.data)
    on_export = evaluate_json(exported, trained.data)
    for result in (on_run, on_export):
        assert 0.0 <= result["accuracy"] <= 1.0
        assert 0.0 <= result["macro_f1"] <= 1.0
        assert result["examples"] == 42
        assert result["labels"] == LABELS
    assert on_export["confusion_matrix"] == on_run["confusion_matrix"]
    assert on_export["accuracy"] == pytest.approx(on_run["accuracy"])
    assert on_export["macro_f1"] == pytest.approx(on_run["macro_f1"])

    plain = run(["evaluate", str(exported.parent), "--data", str(trained.data)])
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[:3] == [
        f"accuracy: {on_export['accuracy']}",
        f"macro_f1: {on_export['macro_f1']}",
        "examples: 42",
    ]
    for label, row, line in zip(LABELS, on_export["confusion_matrix"], lines[4:]):
        assert line.split() == [label, *map(str, row)]


@pytest.mark.parametrize("extra", [[], ["--run"]], ids=["best-run", "--run"])
def test_evaluate_task_folder(trained, extra):
    extra = extra and [*extra, trained.run.name]
    assert evaluate_json(trained.task, trained.data, *extra) == evaluate_json(
        trained.run, trained.data
    )


def test_export_prints_each_new_version(trained, tmp_path):
    for version in (1, 2):
        result = run(["export", str(trained.task), "--out", str(tmp_path)])
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(tmp_path / "task" / str(version))
        assert (tmp_path / "task" / str(version) / "saved_model.pb").is_file()


def test_predict_texts_as_json(exported):
    result = run(["predict", str(exported), *TEXTS, "--json"])
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [answer["text"] for answer in answers] == TEXTS
    for answer in answers:
        probabilities = answer["probabilities"]
        assert sorted(probabilities) == LABELS
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert answer["label"] == max(probabilities, key=probabilities.get)


def test_predict_reads_stdin_one_label_per_line(exported):
    stdin = run(
        ["predict", str(exported.parent)], input="".join(t + "\n" for t in TEXTS)
    )
    assert stdin.returncode == 0, stdin.stderr
    labels = stdin.stdout.splitlines()
    assert len(labels) == len(TEXTS) and set(labels) <= set(LABELS)
    as_args = run(["predict", str(exported), *TEXTS])
    assert as_args.returncode == 0, as_args.stderr
    assert as_args.stdout.splitlines() == labels


def test_info_describes_the_export(exported):
    plain = run(["info", str(exported)])
    assert plain.returncode == 0, plain.stderr
    fields = dict(line.split(": ", 1) for line in plain.stdout.splitlines())
    assert fields["task"] == "classification"
    assert json.loads(fields["labels"]) == LABELS
    signature = json.loads(fields["signatures"])["serving_default"]
    assert signature["inputs"] == {"text": "string [None]"}
    assert signature["outputs"] == {
        "label": "string [None]",
        "probabilities": "float32 [None, 3]",
    }
    result = run(["info", str(exported), "--json"])
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout)
    assert details["signatures"]["serving_default"] == signature
    assert details["rnnkit_version"] == rnnkit.__version__
    assert details["hyperparameters"]["units"] == 8


SERVE = """
import json, sys
import tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
outputs = serve(text=tf.constant(json.loads(sys.argv[2])))
assert "rnnkit" not in sys.modules, "the check must not need rnnkit"
print(json.dumps({
    "label": [v.decode() for v in outputs["label"].numpy()],
    "probabilities": outputs["probabilities"].numpy().tolist(),
}))
"""


def test_saved_model_answers_equal_the_keras_model(trained, exported):
    import tensorflow as tf

    from rnnkit.templates import workflow

    long_text = " ".join(["rocket", "ball", "oven", "star"] * 10)  # 40 > 12 tokens
    # 7 texts: a batch size neither training (8), validation nor the export's
    # own check (3, 5) used; also an empty and an out-of-vocabulary text.
    texts = [*TEXTS, long_text, "", "zzqxj vvkpt", "Star, MOON & comet!"]
    # As the commands load a run: with the task's own classes registered
    # (the pooling layer and the text encoder are the template's, not
    # rnnkit.layers'), whichever tests ran before in this process.
    _, model, _, _ = workflow.load_run(trained.run)
    expected = np.asarray(model(tf.constant(texts), training=False))

    result = run(["-c", SERVE, str(exported), json.dumps(texts)], [sys.executable])
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout)
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    assert served["label"] == [LABELS[i] for i in expected.argmax(axis=-1)]


def test_export_metadata_is_complete(trained, exported):
    meta = read_json(exported / "assets" / "rnnkit.json")
    assert meta["task"] == "classification"
    assert meta["labels"] == LABELS
    assert isinstance(meta["vocabulary_size"], int) and meta["vocabulary_size"] > 0
    hyperparameters = meta["hyperparameters"]
    assert (hyperparameters["units"], hyperparameters["embedding_dim"]) == (8, 8)
    assert hyperparameters["sequence_length"] == 12
    assert hyperparameters["data"] == str(trained.data)
    validation = read_json(trained.run / "metrics.json")
    assert meta["metrics"]["accuracy"] == validation["accuracy"]
    assert meta["metrics"]["macro_f1"] == validation["macro_f1"]
    assert meta["rnnkit_version"] == rnnkit.__version__
    assert meta["version"] == 1
    assert meta["run"] == trained.run.name


def test_saved_model_cli_sees_the_signature(exported):
    tool = next_to_python("saved_model_cli")
    if tool is None:
        pytest.skip("saved_model_cli is not installed")
    show = run(["show", "--dir", str(exported), "--all"], [tool])
    assert show.returncode == 0, show.stderr
    serving = show.stdout.split("signature_def['serving_default']:", 1)[1]
    assert re.search(r"inputs\['text'\] tensor_info:\s+dtype: DT_STRING", serving)
    assert re.search(r"outputs\['label'\] tensor_info:\s+dtype: DT_STRING", serving)
    assert re.search(
        r"outputs\['probabilities'\] tensor_info:\s+dtype: DT_FLOAT\s+shape: \(-1, 3\)",
        serving,
    )
    served = run(
        [
            "run",
            *("--dir", str(exported), "--tag_set", "serve"),
            *("--signature_def", "serving_default"),
            *("--input_exprs", 'text=["ball goal team"]'),
        ],
        [tool],
    )
    assert served.returncode == 0, served.stderr
    label = re.search(r"output key label:\s*\[b'(\w+)'\]", served.stdout)
    assert label and label.group(1) in LABELS, served.stdout
    assert re.search(r"output key probabilities:\s*\[\[[\d.e\s-]+\]\]", served.stdout)
