"""The README's "Editing a template", done for real: a copy of the
classification template that adds a setting (searched by `rnnkit tune`),
adds a layer and reads its own data format (JSON lines), then tunes,
exports, predicts and evaluates from the command line."""

import json
import pathlib
import random
import re

import keras
import pytest
from cli_support import console_script, one_error_line, run

from rnnkit.templates import export, workflow

ROOT = pathlib.Path(__file__).resolve().parents[2]

WORDS = {
    "positive": "great superb lovely delightful excellent charming".split(),
    "negative": "awful dreadful boring terrible dull clumsy".split(),
}
FILLER = "the film plot actors music story was and".split()

EXTRA = (
    '    extra = {k: config[k] for k in ("reset_after", "unit_forget_bias") '
    "if k in config}\n"
)
CHOSEN = (
    '    chosen["bidirectional"] = search_space.choice(hp, config, "bidirectional")\n'
)
# The edits of the README, in order: (file, text replaced, replacement).
EDITS = [
    (
        "config.toml",
        'data = "data/fortunes.csv"',
        "recurrent_dropout = 0.1       # dropout on the state x_{t-1}\n"
        'data = "data/reviews.jsonl"',
    ),
    (
        "config.toml",
        "bidirectional = [false, true]",
        "bidirectional = [false, true]\nrecurrent_dropout = [0.0, 0.3]",
    ),
    (
        "task.py",
        EXTRA,
        EXTRA + '    extra["recurrent_dropout"] = config["recurrent_dropout"]\n',
    ),
    (
        "task.py",
        CHOSEN,
        CHOSEN + '    chosen["recurrent_dropout"] = search_space.value_range(\n'
        '        hp, config, "recurrent_dropout", step=0.1\n'
        "    )\n",
    ),
    (
        "task.py",
        "    x = recurrent_stack(config, x)  # (batch, features)\n",
        "    x = recurrent_stack(config, x)  # (batch, features)\n"
        "    x = keras.layers.LayerNormalization()(x)\n",
    ),
    (
        "task.py",
        """def read_labelled(config, path):
    return text_files.read_labelled(
        path, config["text_column"], config["label_column"], config["encoding_errors"]
    )
""",
        '''def read_labelled(config, path):
    """JSON lines, `{"review": ..., "stars": 1..5}`: 4 or 5 stars is positive."""
    texts, labels = [], []
    lines = text_files.read_text(path, config["encoding_errors"]).splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            texts.append(record["review"])
            labels.append("positive" if record["stars"] >= 4 else "negative")
        except (ValueError, KeyError, TypeError) as error:
            raise DataError(f"{path}, line {number}: {error!r}") from None
    return text_files.LabelledTexts(texts, labels, str(path))
''',
    ),
    ("task.py", "import dataclasses\n", "import dataclasses\nimport json\n"),
]


def review(rng, label):
    words = rng.choices(WORDS[label], k=3) + rng.choices(FILLER, k=5)
    rng.shuffle(words)
    stars = rng.choice([4, 5] if label == "positive" else [1, 2])
    return {"review": " ".join(words), "stars": stars}


def write_reviews(path, count, seed):
    rng = random.Random(seed)
    rows = [review(rng, label) for _ in range(count) for label in WORDS]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.mark.slow
def test_a_copy_with_its_own_setting_layer_and_data_tunes_exports_and_serves(
    tmp_path,
):
    script = [console_script()] if console_script() else None
    rnnkit = (lambda args: run(args, script)) if script else run
    task = tmp_path / "reviews"
    assert rnnkit(["new", "classification", str(task)]).returncode == 0
    for name, old, new in EDITS:
        text = (task / name).read_text()
        assert text.count(old) == 1, (name, old)
        (task / name).write_text(text.replace(old, new))
    write_reviews(task / "data" / "reviews.jsonl", 40, seed=0)
    write_reviews(tmp_path / "test.jsonl", 10, seed=1)

    # The smallest sizes of the [search] ranges, for a quick search.
    small = ["--set", "units=32", "--set", "embedding_dim=32", "--set", "batch_size=16"]
    tuned = rnnkit(
        ["tune", str(task), "--max-trials", "3", "--epochs", "2", "--seed", "1"] + small
    )
    assert tuned.returncode == 0, tuned.stderr
    board = (task / "tuning" / "leaderboard.csv").read_text()
    assert "recurrent_dropout" in board.splitlines()[0]  # the new key is searched
    best = next((task / "runs").glob("tuned-*"))
    assert "recurrent_dropout = " in (best / "config.toml").read_text()

    exported = rnnkit(["export", str(task), "--out", str(tmp_path / "out")])
    assert exported.returncode == 0, exported.stderr
    path = exported.stdout.strip()
    meta = json.loads(
        (tmp_path / "out" / "reviews" / "1" / export.METADATA).read_text()
    )
    assert 0.0 <= meta["hyperparameters"]["recurrent_dropout"] <= 0.3
    assert meta["labels"] == ["negative", "positive"]

    answers = rnnkit(["predict", path, "a superb and lovely film", "dull and awful"])
    assert answers.returncode == 0, answers.stderr
    assert set(answers.stdout.split()) <= {"positive", "negative"}

    # The run reads held-out data with the copy's own reader.
    scored = rnnkit(
        ["evaluate", str(task), "--data", str(tmp_path / "test.jsonl"), "--json"]
    )
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["examples"] == 20

    # --set reaches the new key, with its type checked; the model uses it.
    trained = rnnkit(
        ["train", str(task), "--epochs", "1", "--set", "recurrent_dropout=0.2"] + small
    )
    assert trained.returncode == 0, trained.stderr
    run_folder = pathlib.Path(trained.stdout.splitlines()[-2])  # then metrics
    assert "recurrent_dropout = 0.2\n" in (run_folder / "config.toml").read_text()
    _, model, _, _ = workflow.load_run(run_folder)
    recurrent = [layer for layer in model.layers if hasattr(layer, "forward_layer")]
    assert recurrent[0].forward_layer.recurrent_dropout == 0.2
    assert isinstance(model.layers[-3], keras.layers.LayerNormalization)
    line = one_error_line(
        rnnkit(["train", str(task), "--set", "recurrent_dropout=high"]), "train"
    )
    assert "`recurrent_dropout` must be float" in line


def test_the_readme_shows_these_edits():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Editing a template")
    section = readme[start : readme.index("\n## ", start + 1)]
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", section, re.DOTALL)
    replacements = [new for _, _, new in EDITS]
    assert len(blocks) >= 5
    for block in blocks:
        assert any(block.strip() in new for new in replacements), block
