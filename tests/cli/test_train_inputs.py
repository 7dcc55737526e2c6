"""`rnnkit train` on bad and unusual input (RELIABILITY.md 10, 21-23, 26,
28), `rnnkit new`, and the trust notice in the loading commands' help."""

import json
import pathlib
import tomllib

import pytest
from cli_support import (
    LABELS,
    TINY,
    examples,
    new_task,
    one_error_line,
    run,
    run_folders,
    write_csv,
)

from rnnkit.templates import tasks

SCHEMA_KEYS = sorted(
    tomllib.loads((tasks.TEMPLATES / "classification" / "config.toml").read_text())
)


def csv_bytes(tmp_path, name="data.csv"):
    path = write_csv(tmp_path / name, examples())
    return path, path.read_bytes().split(b"\n")


def _empty(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    return path, [], path, ["the file is empty"]


def _missing_column(tmp_path):
    path = write_csv(tmp_path / "data.csv", examples(), header=("text", "category"))
    return path, [], path, ["no column `label`", "Found: text, category"]


def _not_utf8(tmp_path):
    path, lines = csv_bytes(tmp_path)
    lines[6] = b"rocket \xff moon,space"  # line 7 of the file
    data = b"\n".join(lines)
    path.write_bytes(data)
    offset = data.index(b"\xff")
    return path, [], path, [f", line 7: byte {offset} ", "not UTF-8 (0xff)"]


def _ragged_row(tmp_path):
    path, lines = csv_bytes(tmp_path)
    lines[10] = b"rocket,moon,space"  # line 11
    path.write_bytes(b"\n".join(lines))
    return path, [], path, [", line 11: 3 fields, but the header has 2"]


def _missing_file(tmp_path):
    path = tmp_path / "missing.csv"
    return path, [], path, [": no such file or folder"]


def _missing_folder(tmp_path):
    path = tmp_path / "missing"
    return f"{path}/", [], path, [": no such file or folder"]


def _one_subfolder(tmp_path):
    path = tmp_path / "texts"
    (path / "sports").mkdir(parents=True)
    for i, (text, _) in enumerate(examples(3)):
        (path / "sports" / f"{i}.txt").write_text(text)
    return path, [], path, ["one subfolder per label, at least two", "['sports']"]


def _one_class_with_texts(tmp_path):
    path, *_ = _one_subfolder(tmp_path)
    (path / "space").mkdir()  # a second label, but without any .txt file
    return path, [], path, [": only one label ('sports')", "at least two"]


def _label_only_in_validation(tmp_path):
    data = write_csv(tmp_path / "data.csv", examples())
    validation = write_csv(
        tmp_path / "validation.csv", [*examples(2), ("chess rook", "chess")]
    )
    return (
        data,
        ["--set", f"validation_data={validation}"],
        validation,
        [": label(s) ['chess']", f"Known labels: {LABELS}"],
    )


@pytest.mark.parametrize(
    "bad",
    [
        _empty,
        _missing_column,
        _not_utf8,
        _ragged_row,
        _missing_file,
        _missing_folder,
        _one_subfolder,
        _one_class_with_texts,
        _label_only_in_validation,
    ],
    ids=lambda bad: bad.__name__.strip("_").replace("_", "-"),
)
def test_train_refuses_bad_data_before_training(tmp_path, bad):
    refused_before_training(tmp_path, bad)


def refused_before_training(tmp_path, bad, flags=()):
    """`rnnkit train` with `flags` on the `bad` data is one error line that
    names the file, and nothing is trained."""
    task = new_task(tmp_path / "task")
    data, extra, named, expected = bad(tmp_path)
    result = run(["train", str(task), "--data", str(data), *TINY, *extra, *flags])
    line = one_error_line(result, "train")
    assert line.startswith(f"rnnkit train: error: {named}"), line
    for part in expected:
        assert part in line, line
    assert result.stdout == ""  # no progress bar: nothing was trained
    assert run_folders(task) == []


def test_train_refuses_a_missing_task_folder(tmp_path):
    data = write_csv(tmp_path / "data.csv", examples())
    task = tmp_path / "no-such-task"
    line = one_error_line(run(["train", str(task), "--data", str(data)]), "train")
    assert f"{task}: neither a task folder" in line
    assert not task.exists()


def valid_keys(line):
    return sorted(line.split("Valid keys: ", 1)[1].split(", "))


def test_train_refuses_an_unknown_set_key(tmp_path):
    task = new_task(tmp_path / "task")
    data = write_csv(tmp_path / "data.csv", examples())
    result = run(["train", str(task), "--data", str(data), "--set", "hidden_units=8"])
    line = one_error_line(result, "train")
    assert "--set: unknown key `hidden_units`" in line
    assert valid_keys(line) == SCHEMA_KEYS
    assert run_folders(task) == []


def test_a_key_the_copy_adds_is_a_setting_of_the_copy(tmp_path):
    task = new_task(tmp_path / "task")
    config = task / "config.toml"
    config.write_text("hidden_units = 8\n" + config.read_text())  # a top-level key
    data = write_csv(tmp_path / "data.csv", examples())
    # Its type is the copy's: an int, so a string is refused, naming the key.
    args = ["train", str(task), "--data", str(data), "--set", "hidden_units=many"]
    line = one_error_line(run(args), "train")
    assert "`hidden_units` must be int. Received: hidden_units='many'" in line
    # Another copy's key is unknown here; the valid keys now include the new one.
    args[-1] = "hidden_unitz=8"
    line = one_error_line(run(args), "train")
    assert f"unknown key `hidden_unitz`; {config} has no such setting" in line
    assert valid_keys(line) == sorted([*SCHEMA_KEYS, "hidden_units"])
    assert run_folders(task) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "validation",
    [
        "split",
        "file",
    ],
)
def test_train_skips_blank_texts_and_counts_them(tmp_path, validation):
    task = new_task(tmp_path / "task")
    rows = examples()
    blanks = [("", "sports"), ("   ", "space"), ("\t \t", "cooking")]
    path = write_csv(tmp_path / "plain.csv", [*rows[:5], *blanks, *rows[5:]])
    data = tmp_path / "bom.csv"
    data.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    extra = []
    if validation == "file":
        held_out = write_csv(tmp_path / "validation.csv", examples(2, seed=1))
        extra = ["--set", f"validation_data={held_out}"]
    result = run(["train", str(task), "--data", str(data), *TINY, *extra])
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run_folders(task)[0] / "metrics.json").read_text())
    assert metrics["train_examples"] == (33 if validation == "split" else 42)
    assert metrics["skipped_lines"] == 3
    assert "bom.csv: skipped 3 empty or whitespace-only texts" in result.stderr


@pytest.mark.slow
def test_train_on_a_labelled_folder(tmp_path):
    task = new_task(tmp_path / "task")
    data = tmp_path / "texts"
    for i, (text, label) in enumerate(examples(5)):
        (data / label).mkdir(parents=True, exist_ok=True)
        (data / label / f"{i}.txt").write_text(text + "\n")
    (data / LABELS[0] / "notes.md").write_text("not a .txt file, not a text")
    result = run(["train", str(task), "--data", str(data), *TINY])
    assert result.returncode == 0, result.stderr
    run_dir = pathlib.Path(result.stdout.splitlines()[-2])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["labels"] == LABELS
    assert metrics["train_examples"] + metrics["examples"] == 15
    assert (run_dir / "model.keras").is_file()


def test_new_refuses_a_non_empty_folder_without_force(tmp_path):
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    line = one_error_line(run(["new", "classification", str(folder)]), "new")
    assert str(folder) in line and "--force" in line
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    result = run(["new", "classification", str(folder), "--force"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(folder)
    assert (folder / "task.py").is_file() and (folder / "config.toml").is_file()
    assert (folder / "notes.txt").read_text() == "mine"


def test_new_copies_the_template_but_not_runs(tmp_path):
    folder = new_task(tmp_path / "task")
    template = tasks.TEMPLATES / "classification"
    assert (folder / "task.py").read_bytes() == (template / "task.py").read_bytes()
    config = (folder / "config.toml").read_bytes()
    assert config == (template / "config.toml").read_bytes()
    assert sorted(p.name for p in (folder / "data").iterdir()) == sorted(
        p.name for p in (template / "data").iterdir()
    )
    assert not (folder / "runs").exists()


def test_new_leaves_out_runs_tuning_and_caches(tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    source = templates / "classification"
    (source / "data").mkdir(parents=True)
    for name in ("task.py", "config.toml", "data/x.csv"):
        (source / name).write_text(name)
    for name in ("runs/r1/model.keras", "tuning/oracle.json", "__pycache__/t.pyc"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("not for copying")
    monkeypatch.setattr(tasks, "TEMPLATES", templates)
    folder = tasks.copy_template("classification", tmp_path / "task")
    copied = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    assert copied == ["config.toml", "data", "data/x.csv", "task.py"]


@pytest.mark.parametrize("command", ["predict", "info", "evaluate"])
def test_loading_commands_help_says_models_are_programs(command):
    result = run([command, "--help"])
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "Models are programs" in text
    assert "only from sources you trust" in text and "SECURITY.md" in text


@pytest.mark.slow
def test_interrupted_training_resumes_where_it_stopped(tmp_path, monkeypatch):
    import keras

    from rnnkit.templates import training, workflow

    task = tasks.copy_template("classification", tmp_path / "task")
    data = write_csv(tmp_path / "data.csv", examples())
    overrides = {
        "units": 8,
        "embedding_dim": 8,
        "batch_size": 8,
        "sequence_length": 12,
        "epochs": 4,
        "patience": 10,
    }
    original = training.callbacks

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # the end of epoch 2
                raise KeyboardInterrupt

    class Count(keras.callbacks.Callback):
        begun = []

        def on_epoch_begin(self, epoch, logs=None):
            self.begun.append(epoch)

    monkeypatch.setattr(training, "callbacks", lambda *a: [*original(*a), Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        workflow.train(task, data, overrides, run_id="r1", verbose=0)
    run_dir = task / "runs" / "r1"
    assert not (run_dir / "metrics.json").exists()
    assert not (run_dir / "model.keras").exists()

    monkeypatch.setattr(training, "callbacks", lambda *a: [*original(*a), Count()])
    assert workflow.train(task, data, overrides, run_id="r1", verbose=0) == run_dir
    assert Count.begun == [2, 3]  # only the two epochs left
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["loss"]) == 4
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 4
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1", "2", "3"]
    assert not (run_dir / "backup").exists()  # removed once training finished
