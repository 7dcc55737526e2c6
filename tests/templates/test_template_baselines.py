"""Each template's `baselines` hook: the simple models of its field, fitted
on the task's own split, in the task's own metric."""

import math

import pytest

from rnnkit.templates import baselines, contract, tasks


def task_and_data(kind, **overrides):
    task = tasks.locate(kind)
    config = task.config(overrides)
    return task, config, task.module.read_data(config, task.folder)


def test_the_hook_is_part_of_the_contract():
    hook = next(h for h in contract.HOOKS if h.name == "baselines")
    assert hook.arguments == ("config", "data") and not hook.required
    assert all(hasattr(tasks.locate(k).module, "baselines") for k in tasks.BUILT_IN)


def test_generation_compresses_exactly_the_text_the_model_reads(tmp_path):
    text = "".join(
        f"{word} is a word, and {word[::-1]} is not.\n"
        for word in ("alpha", "beta", "gamma", "delta", "épsilon") * 30
    )
    (tmp_path / "t.txt").write_text(text)
    task, config, data = task_and_data(
        "generation", data=str(tmp_path / "t.txt"), sequence_length=20
    )
    train, validation = data.texts
    assert train + validation == text  # characters: nothing lost or added
    assert len(validation) == len(data.validation_ids)
    found = {r["name"].split(",")[0]: r for r in task.module.baselines(config, data)}
    assert set(found) == {"gzip", "bz2", "xz"}
    for codec, result in found.items():
        bits = baselines.conditional_bits_per_character(train, validation, codec)
        assert result["bits_per_char"] == pytest.approx(bits)
        # The model's own measure: nats per token (here a token is a character).
        assert result["loss"] == pytest.approx(bits * math.log(2))


def test_word_generation_counts_bits_per_token(tmp_path):
    (tmp_path / "t.txt").write_text("the cat sat on the mat and the dog ran. " * 60)
    task, config, data = task_and_data(
        "generation",
        data=str(tmp_path / "t.txt"),
        tokenization="word",
        sequence_length=10,
    )
    result = task.module.baselines(config, data)[1]
    tokens, characters = len(data.validation_ids), len(data.texts[1])
    assert tokens < characters
    assert result["bits_per_token"] == pytest.approx(
        result["bits_per_char"] * characters / tokens
    )
    assert result["loss"] == pytest.approx(result["bits_per_token"] * math.log(2))


def test_classification_fits_on_the_tasks_own_split(tmp_path):
    rows = ["text,label"]
    for i in range(30):
        rows += [f"rocket orbit moon {i},space", f"oven flour sugar {i},cooking"]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    task, config, data = task_and_data("classification", data=str(tmp_path / "d.csv"))
    found = task.module.baselines(config, data)
    assert [r["name"].split(" + ")[-1] for r in found] == [
        "logistic regression",
        "linear SVM",
    ]
    for result in found:
        assert result["accuracy"] == 1.0 and result["seconds"] >= 0


def test_translation_copies_the_validation_sources(tmp_path):
    # Names and numbers pass through a translation: copying scores on them.
    lines = [
        f"Anna {i} 1 2 3 4 went home\tAnna {i} 1 2 3 4 ging heim" for i in range(40)
    ]
    (tmp_path / "p.tsv").write_text("\n".join(lines) + "\n")
    task, config, data = task_and_data("translation", data=str(tmp_path / "p.tsv"))
    (result,) = task.module.baselines(config, data)
    expected = baselines.copy_source_scores(
        data.validation.texts, data.validation.labels
    )
    assert result["bleu"] == pytest.approx(expected["bleu"]) and result["bleu"] > 10
