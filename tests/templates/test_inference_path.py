"""Inference is the model's own code: step-by-step decoding gives the
teacher-forced probabilities at every position, for the templates as shipped
and for a copy whose task.py adds a layer and stacks two recurrent layers,
and the exported greedy output equals greedy decoding done by calling the
Keras training model on growing prefixes."""

import numpy as np
import pytest
import tensorflow as tf

from rnnkit.templates import export, tasks
from rnnkit.templates.language_model import BOS, TextGenerator
from rnnkit.templates.seq2seq import END, PAD, START

pytestmark = pytest.mark.slow

TEXT = "the cat sat on the mat. a dog ate the hat! " * 8
PAIRS = "the cat .\tdie Katze .\na dog !\tein Hund !\nthe mat\tdie Matte\n" * 6
# Where each template's final logits are computed: a LayerNormalization goes
# in front of it in the edited copies.
HEADS = {
    "generation": (
        "return self.head(x), new_states",
        "return self.head(self.head_norm(x)), new_states",
    ),
    "translation": (
        "return self.head(y), new_states, weights",
        "return self.head(self.head_norm(y)), new_states, weights",
    ),
}
LAYER_NAMES = {
    "generation": "self.head = keras.layers.Dense(len(encoder))",
    "translation": "self.head = keras.layers.Dense(len(self.target))",
}
SMALL = {"units": 12, "embedding_dim": 6, "dropout": 0.0}


def edit(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


def task_copy(root, kind, edited):
    """The template `kind` copied to `root`, with a LayerNormalization before
    the output layer and two recurrent layers if `edited`."""
    folder = tasks.copy_template(kind, root / f"{kind}-{edited}")
    (folder / "corpus.txt").write_text(TEXT)
    (folder / "pairs.tsv").write_text(PAIRS)
    if edited:
        head = LAYER_NAMES[kind]
        edit(
            folder / "task.py",
            head,
            f"{head}\n        self.head_norm = keras.layers.LayerNormalization()",
        )
        edit(folder / "task.py", *HEADS[kind])
    return folder


def built(root, kind, edited):
    """`(task, config, model)`: the copy's model with random weights, large
    enough that every layer matters."""
    task = tasks.locate(task_copy(root, kind, edited))
    overrides = {**SMALL, "layers": 2 if edited else 1}
    if kind == "generation":
        overrides.update(data="corpus.txt", sequence_length=16)
    else:
        # target_length bounds the prefix-by-prefix greedy reference's steps
        # (an eager call of the whole model each).
        overrides.update(data="pairs.tsv", source_tokenization="word", target_length=16)
    config = task.config(overrides)
    data = task.module.read_data(config, task.folder)
    model = task.module.build_model(config, data)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape) * 0.4 for w in model.get_weights()])
    return task, config, model


def softmax(logits):
    return tf.nn.softmax(logits).numpy()


@pytest.mark.parametrize("edited", [False, True], ids=["shipped", "edited"])
def test_generation_steps_give_the_teacher_forced_probabilities(tmp_path, edited):
    task, _, model = built(tmp_path, "generation", edited)
    assert hasattr(model, "head_norm") is edited
    generator = TextGenerator(model.encoder, model.forward)
    ids = generator.token_ids(tf.constant(["the cat sat", "a dog!", ""]))
    teacher_forced = softmax(model(ids))
    logits, states = generator.encode(ids[:, :1])  # BOS alone
    stepped = [softmax(logits)]
    for t in range(1, ids.shape[1]):
        logits, states = generator.step(ids[:, t], states)
        stepped.append(softmax(logits))
    stepped = np.stack(stepped, axis=1)
    real = ids.numpy() != PAD
    np.testing.assert_allclose(stepped[real], teacher_forced[real], atol=1e-5)


@pytest.mark.parametrize("edited", [False, True], ids=["shipped", "edited"])
def test_translation_steps_give_the_teacher_forced_probabilities(tmp_path, edited):
    task, config, model = built(tmp_path, "translation", edited)
    assert hasattr(model, "head_norm") is edited
    translator = task.module.translator(model, config)
    source_ids = translator.source_ids(tf.constant(["the cat .", "a dog !", ""]))
    targets = model.target(tf.constant(["die Katze .", "ein Hund", "Matte"]))
    target_in = tf.concat(
        [tf.fill([3, 1], START), targets.to_tensor(default_value=PAD)], axis=1
    )
    teacher_forced = softmax(model([source_ids, target_in]))
    memory, logits, states = translator.start(source_ids)
    stepped = [softmax(logits)]
    for t in range(1, target_in.shape[1]):
        logits, states, _ = translator.step(memory, target_in[:, t], states)
        stepped.append(softmax(logits))
    stepped = np.stack(stepped, axis=1)
    real = target_in.numpy() != PAD
    np.testing.assert_allclose(stepped[real], teacher_forced[real], atol=1e-5)


def exported(root, task, config, model):
    """The model exported by the task's own `serving`, as `rnnkit export`
    does (checked in a fresh process), loaded back."""
    meta = {"task": task.kind, "hyperparameters": config}
    path = export.write(task.module.serving(model, meta), meta, root / "export")
    return tf.saved_model.load(str(path)).signatures


def prefix_greedy_text(model, prompt, steps):
    """Greedy generation by calling the training model on the whole prefix
    for every new token."""
    tokens = model.encoder.all_tokens()
    ids = [BOS, *model.encoder(tf.constant([prompt])).to_list()[0]]
    for _ in range(steps):
        logits = model(np.array([ids]))[0, -1].numpy()
        logits[: len(model.encoder.reserved)] = -np.inf
        ids.append(int(np.argmax(logits)))
    return prompt + "".join(tokens[i] for i in ids[-steps:])


@pytest.mark.parametrize("edited", [False, True], ids=["shipped", "edited"])
def test_exported_generation_greedy_equals_growing_prefixes(tmp_path, edited):
    task, config, model = built(tmp_path, "generation", edited)
    generate = exported(tmp_path, task, config, model)["generate"]
    prompts = ["the cat", "a", "zq!"]
    served = generate(
        prompt=tf.constant(prompts),
        max_length=tf.constant(12),
        temperature=tf.constant(1.0),
        top_k=tf.constant(1),
        top_p=tf.constant(1.0),
        seed=tf.constant(0),
    )["text"].numpy()
    expected = [prefix_greedy_text(model, p, 12) for p in prompts]
    assert [t.decode() for t in served] == expected


def prefix_greedy_tokens(model, source, steps):
    """Greedy translation by calling the training model on the source and
    the whole target prefix for every new token."""
    source_ids = model.source(tf.constant([source])).to_tensor()
    chosen = [START]
    while len(chosen) <= steps and chosen[-1] != END:
        logits = model([source_ids, np.array([chosen])])[0, -1].numpy()
        logits[:END] = -np.inf  # never padding, [UNK] or [START]
        chosen.append(int(np.argmax(logits)))
    return [model.target.all_tokens()[i] for i in chosen[1:]]


@pytest.mark.parametrize("edited", [False, True], ids=["shipped", "edited"])
def test_exported_translation_greedy_equals_growing_prefixes(tmp_path, edited):
    task, config, model = built(tmp_path, "translation", edited)
    attention = exported(tmp_path, task, config, model)["attention"]
    sources = ["the cat .", "a dog !", "the mat"]
    served = attention(text=tf.constant(sources))["target_tokens"].numpy()
    for source, tokens in zip(sources, served):
        expected = prefix_greedy_tokens(model, source, config["target_length"])
        assert [t.decode() for t in tokens if t] == expected
