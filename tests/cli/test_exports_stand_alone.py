"""An export is the whole truth at serving time: every command that uses
one works from the SavedModel and its `assets/rnnkit.json` alone, whatever
task made it; `serving_default` takes only strings; and the ids a model was
trained on are the ids its SavedModel computes."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from rnnkit.templates import export, tasks

pytestmark = pytest.mark.slow

# Unicode whitespace (U+00A0, U+2003), a tab, CRLF, an emoji and a combining
# accent: Python's str.split() and tf.strings.split() disagree on some.
TRICKY = "a\u00a0b c\u2003d\te\r\nf \U0001f600 e\u0301t\u00e9 caf\u00e9, end."
SMALL = {"units": 8, "embedding_dim": 4, "epochs": 1}
INPUT = {"classification": "text", "generation": "prompt", "translation": "text"}


def data_files(root):
    rows = [(f"{TRICKY} {i}", "odd" if i % 2 else "even") for i in range(30)]
    (root / "labelled.csv").write_text(
        "text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows)
    )
    (root / "corpus.txt").write_text((TRICKY + "\n") * 30)
    line = TRICKY.replace("\r\n", " ")  # a TSV line holds no line break
    (root / "pairs.tsv").write_text(
        "".join(f"{line} {i}\t{line.upper()} {i}\n" for i in range(30))
    )
    return {
        "classification": {"data": str(root / "labelled.csv"), "sequence_length": 12},
        "generation": {"data": str(root / "corpus.txt"), "sequence_length": 10},
        "translation": {"data": str(root / "pairs.tsv")},
    }


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """For each template: its task, config, data, model (untrained) and the
    path of its export, made by the task's own `serving`."""
    root = tmp_path_factory.mktemp("exports")
    settings = data_files(root)
    made = {}
    for kind in tasks.BUILT_IN:
        task = tasks.locate(tasks.copy_template(kind, root / kind))
        config = task.config({**SMALL, **settings[kind]})
        data = task.module.read_data(config, task.folder)
        model = task.module.build_model(config, data)
        meta = {
            "task": kind,
            **task.module.metadata(config, data, model),
            "hyperparameters": config,
        }
        path = export.write(task.module.serving(model, meta), meta, root / "out" / kind)
        made[kind] = (task, config, data, model, path)
    return root, made


def renamed_task(path, destination):
    """A copy of the export whose rnnkit.json names a task rnnkit does not
    know."""
    shutil.copytree(path, destination)
    metadata = destination / export.METADATA
    meta = json.loads(metadata.read_text())
    metadata.write_text(json.dumps({**meta, "task": "no-such-task"}))
    return destination


# Each command runs in one fresh process, which then checks that no task.py
# was ever imported (task modules load as `rnnkit_task_<digest>`).
DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from rnnkit.cli import main

    results = []
    for argv in json.loads(sys.argv[1]):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(argv)
        results.append({"argv": argv, "code": code, "out": out.getvalue()})
    tasks = [name for name in sys.modules if name.startswith("rnnkit_task_")]
    print(json.dumps({"results": results, "task_modules": tasks}))
    """
)


def commands(kind, model, root, folder):
    model = str(model)
    if kind == "classification":
        return [
            ["predict", model, "a b c", "end."],
            ["predict", "--json", model, "a b c"],
            ["evaluate", model, "--data", str(root / "labelled.csv"), "--json"],
            ["info", model, "--json"],
        ]
    if kind == "generation":
        return [
            ["predict", model, "a b", ""],
            ["generate", model, "a", "--max-length", "5", "--seed", "3"],
            ["generate", model, "a", "--greedy", "--max-length", "4"],
            ["evaluate", model, "--data", str(root / "corpus.txt"), "--json"],
            ["info", model, "--json"],
        ]
    return [
        ["predict", model, "a b c", ""],
        ["translate", model, "a b c", "--beam-width", "2", "--max-length", "6"],
        ["attention", model, "a b c", "--out", str(folder / "attention.png")],
        ["evaluate", model, "--data", str(root / "pairs.tsv"), "--json"],
        ["info", model, "--json"],
    ]


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_every_command_works_from_the_export_alone(exports, kind, tmp_path):
    root, made = exports
    model = renamed_task(made[kind][4], tmp_path / "model" / "1")
    argvs = commands(kind, model.parent, root, tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(argvs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["task_modules"] == []
    for entry in report["results"]:
        assert entry["code"] == 0, (entry, result.stderr)
        assert entry["out"].strip(), entry
    info = json.loads(report["results"][-1]["out"])
    assert info["task"] == "no-such-task"
    assert "serving_default" in info["signatures"]
    evaluated = json.loads(report["results"][-2]["out"])
    key = {"classification": "accuracy", "generation": "loss", "translation": "bleu"}
    assert np.isfinite(evaluated[key[kind]])


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_saved_model_cli_runs_serving_default_with_strings_only(exports, kind):
    path = exports[1][kind][4]
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    assert {k: v.dtype for k, v in inputs.items()} == {INPUT[kind]: tf.string}
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    result = subprocess.run(
        [
            *cli,
            "run",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            f'{INPUT[kind]}=["a b c", ""]',
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "Result for output key" in result.stdout


def served_ids(path, texts):
    tokenize = tf.saved_model.load(str(path)).signatures["tokenize"]
    return tokenize(text=tf.constant(texts))["token_ids"].numpy()


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_the_ids_trained_on_are_the_exports_ids(exports, kind):
    task, config, data, model, path = exports[1][kind]
    if kind == "generation":
        corpus = pathlib.Path(config["data"]).read_bytes().decode()  # CRLF kept
        trained = data.train_ids  # the start of the corpus; the end validates
        served = served_ids(path, [corpus])[0]
        assert len(served) > len(trained) > 100
        np.testing.assert_array_equal(trained, served[: len(trained)])
    elif kind == "translation":
        (trained, _), _, _ = task.module.arrays(config, data, data.train)
        served = served_ids(path, data.train.texts)[:, : trained.shape[1]]
        np.testing.assert_array_equal(trained[:, : served.shape[1]], served)
        assert (trained[:, served.shape[1] :] == 0).all()
    else:
        texts = data.train.texts  # the model's own input: it reads strings
        trained = model.get_layer("vectorizer")(tf.constant(texts)).numpy()
        np.testing.assert_array_equal(trained, served_ids(path, texts))
    # The tricky characters are tokens the model knows, not [UNK] (id 1).
    assert (served_ids(path, [TRICKY])[0] != 1).any()


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_wrong_dtype_or_rank_is_refused_not_cast(exports, kind):
    serve = tf.saved_model.load(str(exports[1][kind][4])).signatures["serving_default"]
    for wrong in (tf.constant([1, 2]), tf.constant([["a", "b"]])):
        with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
            serve(**{INPUT[kind]: wrong})


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_padding_does_not_change_an_answer(exports, kind):
    """A text answered alone, or beside a much longer one (so padded)."""
    signatures = tf.saved_model.load(str(exports[1][kind][4])).signatures
    short, long = "a b", " ".join(["a b c d e f"] * 4)
    if kind == "generation":
        greedy = dict(max_length=8, temperature=1.0, top_k=1, top_p=1.0, seed=0)

        def answer(texts):
            options = {k: tf.constant(v) for k, v in greedy.items()}
            return signatures["generate"](prompt=tf.constant(texts), **options)

    else:

        def answer(texts):
            return signatures["serving_default"](text=tf.constant(texts))

    alone, padded = answer([short]), answer([short, long])
    for key, value in alone.items():
        value, beside = value.numpy()[0], padded[key].numpy()[0]
        if isinstance(value, bytes):
            assert value == beside, key
        else:
            np.testing.assert_allclose(value, beside, atol=1e-5)
