"""The generation template: windows, the language model, sampling in the graph."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from rnnkit.templates import export, inference, runs, tasks, workflow
from rnnkit.templates.errors import DataError, RnnkitError
from rnnkit.templates.language_model import BOS, RESERVED, UNK
from rnnkit.templates.text_encoder import TextEncoder

PATTERN = "the cat sat on the mat. "
SMALL = {
    "epochs": 25,
    "units": 48,
    "embedding_dim": 16,
    "sequence_length": 24,
    "stride": 3,
    "batch_size": 32,
    "learning_rate": 0.01,
    "validation_split": 0.2,
    "sample_length": 20,
    "patience": 25,
}


@pytest.fixture(scope="module")
def module():
    return tasks.locate("generation").module


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A character model trained on a repeating sentence, and its export."""
    root = tmp_path_factory.mktemp("generation")
    folder = tasks.copy_template("generation", root / "task")
    (root / "pattern.txt").write_text(PATTERN * 60)
    run = workflow.train(folder, root / "pattern.txt", SMALL, verbose=0)
    path = workflow.export_run(folder, out=root / "saved_models")
    _, model, _, _ = workflow.load_run(run)
    meta = {
        **json.loads((run / "metadata.json").read_text()),
        **export.read_metadata(path),
    }
    return run, path, model, meta


def generate(module, model, meta, prompts, max_length, **options):
    """The template's `generate` signature, traced in this process."""
    options = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 0, **options}
    function = module.serving(model, meta).functions()["generate"]
    outputs = function(tf.constant(prompts), max_length=max_length, **options)
    return [t.decode() for t in outputs["text"].numpy()]


def test_windows_are_teacher_forced(module):
    inputs, targets = module.windows(np.arange(10, 20), length=4, stride=3)
    np.testing.assert_array_equal(
        targets, [[10, 11, 12, 13], [13, 14, 15, 16], [16, 17, 18, 19]]
    )
    np.testing.assert_array_equal(inputs[:, 0], [BOS] * 3)
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])


def test_streams_continue_each_row_in_the_next_batch(module):
    ids = np.arange(100, 124)  # 24 tokens, 2 streams, windows of 4
    inputs, targets = module.streams(ids, batch_size=2, length=4)
    first, second = inputs[:2], inputs[2:4]
    np.testing.assert_array_equal(first[:, 0], [BOS, 111])
    np.testing.assert_array_equal(second[:, 0], targets[:2, -1])
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])


def test_vocabulary_reserves_padding_unknown_and_start():
    encoder = TextEncoder.adapt(
        list("abracadabra"), 5, tokenization="character", reserved=RESERVED
    )
    assert encoder.all_tokens() == ["", "[UNK]", "[BOS]", "a", "b"]
    assert encoder(tf.constant(["abz"])).to_list() == [[3, 4, UNK]]


def test_validation_is_the_end_of_the_text(module, tmp_path):
    (tmp_path / "t.txt").write_text("a" * 80 + "b" * 20)
    task = tasks.locate("generation")
    config = task.config(
        {
            "data": str(tmp_path / "t.txt"),
            "sequence_length": 10,
            "validation_split": 0.2,
        }
    )
    data = module.read_data(config, task.folder)
    # The last 20% are the b's, which training never saw: unknown tokens.
    assert len(data.validation_ids) == 20 and set(data.validation_ids) == {UNK}
    assert "b" not in data.encoder.vocabulary and UNK not in set(data.train_ids)


def test_text_shorter_than_a_window_gives_both_lengths(module, tmp_path):
    (tmp_path / "t.txt").write_text("short text")
    task = tasks.locate("generation")
    config = task.config({"data": str(tmp_path / "t.txt"), "sequence_length": 50})
    with pytest.raises(
        DataError,
        match=r"t.txt: 9 tokens, shorter than one training "
        r"window \(sequence_length=50",
    ):
        module.read_data(config, task.folder)


@pytest.mark.slow
def test_model_learns_to_continue_the_pattern_exactly(module, trained):
    _, _, model, meta = trained
    text = generate(module, model, meta, ["the cat ", ""], 48, top_k=1)
    assert text[0] == "the cat " + (PATTERN * 3)[8 : 8 + 48]
    assert text[1] in (PATTERN * 4)  # from the start state: somewhere in the loop


def naive_greedy(model, prompt, steps):
    """The slow way: re-encode the whole window for every new token."""
    tokens = model.encoder.all_tokens()
    ids = [BOS, *(tokens.index(c) if c in tokens else UNK for c in prompt)]
    for _ in range(steps):
        logits = model.predict(np.array([ids]), verbose=0)[0, -1]
        logits[:3] = -np.inf
        ids.append(int(np.argmax(logits)))
    return prompt + "".join(tokens[i] for i in ids[len(prompt) + 1 :])


@pytest.mark.slow
def test_carrying_the_state_equals_re_encoding(module, trained):
    _, _, model, meta = trained
    for prompt in ["on the", "xyz"]:
        fast = generate(module, model, meta, [prompt], 10, top_k=1)[0]
        assert fast == naive_greedy(model, prompt, 10)


def serve(path, **inputs):
    signatures, meta = export.load(path)
    full = {"max_length": 30, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 0}
    full.update(inputs)
    types = {"temperature": tf.float32, "top_p": tf.float32, "prompt": tf.string}
    tensors = {k: tf.constant(v, types.get(k, tf.int32)) for k, v in full.items()}
    return [t.decode() for t in signatures["generate"](**tensors)["text"].numpy()]


PROMPTS = ["the", "", "\u2603 snow", "a much longer prompt than the others"]


@pytest.mark.slow
def test_saved_model_greedy_equals_keras_greedy(module, trained):
    _, path, model, meta = trained
    keras_greedy = generate(module, model, meta, PROMPTS, 30, top_k=1)
    assert serve(path, prompt=PROMPTS, top_k=1) == keras_greedy
    # top_k=1 is greedy whatever the temperature and seed
    assert serve(path, prompt=PROMPTS, top_k=1, temperature=3.0, seed=9) == keras_greedy


@pytest.mark.slow
def test_seeds_make_samples_reproducible(trained):
    path = trained[1]
    hot = {"prompt": PROMPTS, "temperature": 2.0}
    assert serve(path, seed=1, **hot) == serve(path, seed=1, **hot)
    assert serve(path, seed=1, **hot) != serve(path, seed=2, **hot)
    nucleus = serve(path, seed=1, top_k=3, top_p=0.9, **hot)
    assert all(t.startswith(p) for t, p in zip(nucleus, PROMPTS))


@pytest.mark.slow
def test_unknown_characters_and_empty_prompts_still_generate(trained):
    texts = serve(trained[1], prompt=["\u2603\u2603", ""], max_length=12, top_k=1)
    assert texts[0].startswith("\u2603\u2603") and len(texts[0]) == 14
    assert len(texts[1]) == 12


@pytest.mark.slow
@pytest.mark.parametrize(
    "bad,message",
    [
        ({"max_length": 0}, "max_length must be > 0"),
        ({"max_length": 5000}, "max_length must be <= 2048"),
        ({"temperature": 0.0}, "temperature must be > 0; use top_k=1 for greedy"),
        ({"top_k": -1}, "top_k must be >= 0"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ],
)
def test_saved_model_rejects_bad_options(trained, bad, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve(trained[1], prompt=["the"], **bad)


@pytest.mark.slow
def test_predict_options_are_checked_with_clear_errors(trained):
    with pytest.raises(RnnkitError, match=r"temperature must be > 0; .*greedy"):
        inference.predict(trained[1], ["the"], options={"temperature": 0})
    with pytest.raises(RnnkitError, match=r"seed must be within the int32 range"):
        inference.predict(trained[1], ["the"], options={"seed": 2**32})
    with pytest.raises(RnnkitError, match=r"--greedy .* one or the other"):
        inference.predict(
            trained[1], ["the"], options={"greedy": True, "temperature": 0.5}
        )
    with pytest.raises(RnnkitError, match=r"no signature of this model takes"):
        inference.predict(trained[1], ["the"], options={"beam_width": 2})
    assert inference.predict(
        trained[1], ["the "], options={"greedy": True, "max_length": 8}
    ) == ["the cat sat "]


@pytest.mark.slow
def test_metrics_and_evaluation_agree(trained, tmp_path):
    run, path, _, _ = trained
    metrics = runs.metrics(run)
    assert metrics["perplexity"] == pytest.approx(np.exp(metrics["loss"]))
    assert metrics["bits_per_char"] == pytest.approx(metrics["loss"] / np.log(2))
    assert metrics["perplexity"] < 1.5  # the pattern is learned
    assert set(metrics["samples"]) == {"greedy", "temperature 0.8"}
    held_out = tmp_path / "held_out.txt"
    held_out.write_text(PATTERN * 5)
    from_run = workflow.evaluate(run, held_out)
    from_export = workflow.evaluate(path, held_out)
    assert from_run["loss"] == pytest.approx(from_export["loss"], rel=1e-5)
    assert from_run["tokens"] == len(PATTERN * 5)


@pytest.mark.slow
def test_saved_model_cli_runs_serving_default_with_the_prompt_alone(trained):
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    result = subprocess.run(
        [
            *cli,
            "run",
            "--dir",
            str(trained[1]),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            'prompt=["the cat"]',
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "the cat" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"stateful": True}, {"tokenization": "word"}])
def test_stateful_and_word_models_train_and_export(tmp_path, options):
    folder = tasks.copy_template("generation", tmp_path / "task")
    (tmp_path / "t.txt").write_text(PATTERN * 40)
    overrides = {**SMALL, "epochs": 2, "sequence_length": 8, "batch_size": 4, **options}
    run = workflow.train(folder, tmp_path / "t.txt", overrides, verbose=0)
    path = workflow.export_run(folder, out=tmp_path / "saved_models")
    text = inference.predict(path, ["the"], options={"max_length": 5, "seed": 3})[0]
    assert text.startswith("the")
    metrics = runs.metrics(run)
    assert ("bits_per_char" in metrics) is (options.get("tokenization") != "word")
