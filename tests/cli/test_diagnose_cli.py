"""`rnnkit diagnose gradients` and `rnnkit diagnose gates`, in process."""

import pytest
from cli_support import examples, write_csv

from rnnkit import cli
from rnnkit.templates import tasks, workflow

PNG = b"\x89PNG\r\n\x1a\n"
TINY = {"epochs": 1, "units": 4, "embedding_dim": 4, "batch_size": 8}


def is_png(path):
    return path.is_file() and path.read_bytes()[:8] == PNG


def one_line_error(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("rnnkit diagnose: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def trained_lstm(tmp_path_factory):
    """A tiny bidirectional LSTM classification task and its one run."""
    root = tmp_path_factory.mktemp("diagnose")
    task = tasks.copy_template("classification", root / "task")
    data = write_csv(root / "data.csv", examples())
    overrides = {**TINY, "cell": "lstm", "sequence_length": 12}
    run = workflow.train(task, data, overrides, verbose=0)
    return task, run


def test_gradients_synthetic_writes_png_and_rates(tmp_path, capsys):
    out = tmp_path / "g.png"
    args = ["--timesteps", "12", "--units", "4", "--steps", "2", "--out", str(out)]
    assert cli.main(["diagnose", "gradients", *args]) == 0
    assert is_png(out)
    printed = capsys.readouterr().out
    for kind in ("rnn", "gru", "lstm"):
        assert any(line.startswith(f"{kind} ") for line in printed.splitlines())
    assert "exploding: rnn with spectral radius 2" in printed
    assert "SGD clipnorm=1" in printed and "SGD no clipping" in printed


@pytest.mark.parametrize(
    "args,message",
    [
        (["gradients", "--cells", "rnn", "tanh"], "unknown cell 'tanh'"),
        (["gradients", "--timesteps", "1"], "--timesteps must be at least 2"),
        (["gradients", "--spectral-radius", "0"], "--spectral-radius must be"),
        (["gradients", "no/such/run"], "no/such/run: neither a task folder"),
        (["gates", "no/such/run", "text"], "no/such/run: neither a task folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert cli.main(["diagnose", *args]) == 2
    assert message in one_line_error(capsys)


def test_gates_of_a_task_without_runs(tmp_path, capsys):
    task = tasks.copy_template("classification", tmp_path / "t")
    assert cli.main(["diagnose", "gates", str(task), "a text"]) == 2
    assert "no completed runs" in one_line_error(capsys)


@pytest.mark.slow
def test_gates_of_a_run_and_of_a_task_best_run(trained_lstm, tmp_path, capsys):
    task, run = trained_lstm
    text = "Rocket orbit zzqx moon"
    for target in (run, task):
        out = tmp_path / f"{target.name}.png"
        assert (
            cli.main(["diagnose", "gates", str(target), text, "--out", str(out)]) == 0
        )
        assert is_png(out)
        printed = capsys.readouterr().out.splitlines()
        assert printed[0] == f"{run}: lstm, 4 tokens"
        assert [line.split()[0] for line in printed[1:4]] == [
            "forget",
            "input",
            "output",
        ]


@pytest.mark.slow
def test_gate_panels_follow_the_tokens(trained_lstm):
    from rnnkit.templates import diagnose

    kind, tokens, panels, _ = diagnose.gates(trained_lstm[1], "Rocket orbit zzqx moon")
    assert kind == "lstm" and tokens == ["rocket", "orbit", "[UNK]", "moon"]
    assert list(panels) == ["forget", "input", "output"]
    for values in panels.values():
        assert values.shape == (4, 4)  # (tokens, units)
        assert ((values > 0) & (values < 1)).all()


@pytest.mark.slow
def test_gradients_of_a_run_and_a_task(trained_lstm, tmp_path, capsys):
    task, run = trained_lstm
    out = tmp_path / "run.png"
    assert cli.main(["diagnose", "gradients", str(run), "--out", str(out)]) == 0
    assert is_png(out)
    rates = capsys.readouterr().out.splitlines()[2:]
    assert [line.split()[0] for line in rates[:1]] == ["lstm"]
    out = tmp_path / "task.png"
    args = ["--steps", "1", "--cells", "rnn", "gru", "--out", str(out)]
    assert cli.main(["diagnose", "gradients", str(task), *args]) == 0
    assert is_png(out)
    rates = capsys.readouterr().out.splitlines()[2:4]
    assert [line.split()[0] for line in rates] == ["rnn", "gru"]


def tiny_generation(root):
    (root / "text.txt").write_text("abc abd abe. " * 40)
    overrides = {**TINY, "cell": "gru", "sequence_length": 16, "stride": 8}
    return "generation", root / "text.txt", {**overrides, "sample_length": 5}


def tiny_translation(root):
    rows = [f"{w}\t{w[::-1]}" for w in ("abc", "bca", "cab", "aab", "bba") * 8]
    (root / "pairs.tsv").write_text("\n".join(rows) + "\n")
    overrides = {
        **TINY,
        "cell": "rnn",
        "source_tokenization": "character",
        "target_tokenization": "character",
        "source_length": 8,
        "target_length": 8,
    }
    return "translation", root / "pairs.tsv", overrides


@pytest.mark.slow
@pytest.mark.parametrize(
    "make,kind,tokens,names",
    [
        (
            tiny_generation,
            "gru",
            ["[BOS]", "a", "b", "d", "[UNK]"],
            ["update", "reset"],
        ),
        (tiny_translation, "rnn", ["a", "b", "[UNK]", "[UNK]"], ["state"]),
    ],
)
def test_gates_of_generation_and_translation_runs(
    make, kind, tokens, names, tmp_path, capsys
):
    from rnnkit.templates import diagnose

    template, data, overrides = make(tmp_path)
    task = tasks.copy_template(template, tmp_path / "task")
    run = workflow.train(task, data, overrides, verbose=0)
    found, shown, panels, _ = diagnose.gates(run, "abdz")
    assert (found, shown, list(panels)) == (kind, tokens, names)
    assert all(values.shape == (len(tokens), 4) for values in panels.values())
    out = tmp_path / "gates.png"
    assert cli.main(["diagnose", "gates", str(task), "bca?", "--out", str(out)]) == 0
    assert is_png(out)
    if kind == "rnn":
        assert "has no gates" in capsys.readouterr().out
