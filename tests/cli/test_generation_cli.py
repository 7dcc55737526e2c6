"""The generation workflow through the CLI: new, train, export, generate."""

import json

import pytest
from cli_support import one_error_line, run, train_and_export

PATTERN = "abc abd abe. " * 80
SMALL = [
    "--epochs",
    "2",
    "--set",
    "units=16",
    "--set",
    "embedding_dim=8",
    "--set",
    "sequence_length=16",
    "--set",
    "stride=8",
    "--set",
    "sample_length=10",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("generation_cli")
    (root / "text.txt").write_text(PATTERN)
    reports = ("validation: loss ", "perplexity")
    path = train_and_export(root, "generation", root / "text.txt", SMALL, reports)
    return root, path


@pytest.mark.slow
def test_generate_with_options_and_defaults(exported):
    root, path = exported
    result = run(
        [
            "generate",
            path,
            "abc",
            "",
            "--max-length",
            "7",
            "--seed",
            "3",
            "--top-k",
            "4",
            "--top-p",
            "0.9",
            "--temperature",
            "0.7",
            "--json",
        ]
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["prompt"] for row in rows] == ["abc", ""]
    assert rows[0]["text"].startswith("abc") and len(rows[0]["text"]) == 10
    assert len(rows[1]["text"]) == 7
    again = run(
        [
            "generate",
            path,
            "abc",
            "",
            "--max-length",
            "7",
            "--seed",
            "3",
            "--top-k",
            "4",
            "--top-p",
            "0.9",
            "--temperature",
            "0.7",
            "--json",
        ]
    )
    assert again.stdout == result.stdout  # same seed, same text
    defaults = run(["predict", path], input="ab\n")
    assert defaults.returncode == 0 and len(defaults.stdout.rstrip("\n")) == 12


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags,message",
    [
        (["--temperature", "0"], "temperature must be > 0; use top_k=1 for greedy"),
        (["--top-p", "1.5"], "top_p must be in (0, 1]. Received: {'top_p': 1.5}"),
        (["--top-k", "-2"], "top_k must be >= 0 (0: off). Received: {'top_k': -2}"),
        (["--max-length", "0"], "max_length must be > 0"),
        (["--seed", str(2**31)], "seed must be within the int32 range"),
        (["--greedy", "--temperature", "2"], "--greedy takes the likeliest token"),
    ],
)
def test_bad_generation_options_are_one_line_errors(exported, flags, message):
    line = one_error_line(run(["generate", exported[1], "abc", *flags]), "generate")
    assert message in line


@pytest.mark.slow
def test_evaluate_and_info(exported):
    root, path = exported
    (root / "held_out.txt").write_text(PATTERN[:400])
    result = run(["evaluate", path, "--data", str(root / "held_out.txt"), "--json"])
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["tokens"] == 400 and metrics["bits_per_char"] > 0
    info = json.loads(run(["info", path, "--json"]).stdout)
    assert set(info["signatures"]) == {
        "serving_default",
        "generate",
        "score",
        "tokenize",
    }
    assert info["signatures"]["serving_default"]["inputs"] == {
        "prompt": "string [None]"
    }
    inputs = info["signatures"]["generate"]["inputs"]
    assert inputs == {
        "prompt": "string [None]",
        "max_length": "int32 []",
        "temperature": "float32 []",
        "top_k": "int32 []",
        "top_p": "float32 []",
        "seed": "int32 []",
    }


@pytest.mark.slow
def test_options_on_a_classifier_are_refused(tmp_path):
    from cli_support import TINY, examples, write_csv

    task = tmp_path / "clf"
    run(["new", "classification", str(task)])
    data = write_csv(tmp_path / "d.csv", examples())
    assert run(["train", str(task), "--data", str(data), *TINY]).returncode == 0
    path = run(["export", str(task), "--out", str(tmp_path / "out")]).stdout.strip()
    line = one_error_line(run(["predict", path, "x", "--top-k", "3"]), "predict")
    assert "no signature of this model takes ['top_k']" in line
