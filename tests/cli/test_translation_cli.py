"""The translation workflow through the CLI: train, export, predict, attention."""

import json

import pytest
from cli_support import one_error_line, run, train_and_export

SMALL = [
    "--epochs",
    "2",
    "--set",
    "units=16",
    "--set",
    "embedding_dim=8",
    "--set",
    'source_tokenization="character"',
    "--set",
    'target_tokenization="character"',
    "--set",
    "source_length=8",
    "--set",
    "target_length=8",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("translation_cli")
    rows = [f"{w}\t{w[::-1]}" for w in ("abc", "bca", "cab", "aab", "bba") * 12]
    (root / "pairs.tsv").write_text("\n".join(rows) + "\n")
    reports = ("validation: ", "bleu")
    path = train_and_export(root, "translation", root / "pairs.tsv", SMALL, reports)
    return root, path


@pytest.mark.slow
def test_predict_beam_attention_and_evaluate(exported):
    root, path = exported
    greedy = run(["predict", path, "abc", "", "--json"])
    assert greedy.returncode == 0, greedy.stderr
    rows = [json.loads(line) for line in greedy.stdout.splitlines()]
    assert rows[1] == {"text": "", "translation": ""}
    beam = run(["predict", path, "abc", "--beam-width", "3", "--max-length", "6"])
    assert beam.returncode == 0 and len(beam.stdout.strip()) <= 6
    plot = run(["attention", path, "abc", "--out", str(root / "a.png")])
    assert plot.returncode == 0, plot.stderr
    assert (root / "a.png").read_bytes()[:4] == b"\x89PNG"
    scored = run(["evaluate", path, "--data", str(root / "pairs.tsv"), "--json"])
    metrics = json.loads(scored.stdout)
    assert {"bleu", "chrf", "exact_match", "token_error_rate"} <= set(metrics)
    assert 0.0 <= metrics["exact_match"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags,message",
    [
        (["--beam-width", "0"], "beam_width must be >= 1. Received: {'beam_width': 0}"),
        (["--beam-width", "17"], "beam_width must be <= 16"),
        (["--max-length", "0"], "max_length must be >= 1"),
        (["--max-length", "3000"], "max_length must be <= 2048"),
        (["--temperature", "0.5"], "no signature of this model takes ['temperature']"),
    ],
)
def test_bad_options_are_one_line_errors(exported, flags, message):
    line = one_error_line(run(["predict", exported[1], "abc", *flags]), "predict")
    assert message in line


@pytest.mark.slow
def test_unequal_aligned_files_are_refused(tmp_path):
    task = tmp_path / "task"
    run(["new", "translation", str(task)])
    (tmp_path / "en.txt").write_text("a\nb\nc\n")
    (tmp_path / "de.txt").write_text("a\nb\n")
    result = run(
        [
            "train",
            str(task),
            "--data",
            str(tmp_path / "en.txt"),
            "--set",
            f'target_data="{tmp_path / "de.txt"}"',
        ]
    )
    line = one_error_line(result, "train")
    assert "en.txt has 3 lines" in line and "de.txt has 2" in line
    assert not (task / "runs").exists() or not any((task / "runs").iterdir())
