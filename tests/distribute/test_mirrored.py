"""`--strategy mirrored` on a CPU split into two logical devices: the same
weights as the default strategy, and every template trains.

The split is made in the subprocess, before TensorFlow starts
(`split_cpu.py`).
"""

import json
import pathlib

import pytest
from distribute_support import MIRROR_EQUALITY, SPLIT_CPU, run, tiny_task


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_mirrored_gives_the_default_strategys_weights(tmp_path, cell):
    """Six steps of a bidirectional layer on masked (padded) texts, with the
    same global batch and seed, and no dropout (whose draws differ per
    replica). Clipping is on for every step (clipnorm 0.001), so clipping
    each replica's share instead of the summed gradient would show."""
    task = tiny_task("classification", tmp_path, cell=cell)
    settings = {
        "dropout": 0.0,
        "embedding_dropout": 0.0,
        "bidirectional": True,
        "batch_size": 8,  # 48 training texts: six full batches
        "clipnorm": 0.001,
    }
    trains_alike(task, settings, tmp_path)


@pytest.mark.slow
def test_an_uneven_last_batch_weighs_as_with_the_default_strategy(tmp_path):
    """48 texts in batches of 9 end with 3, which the replicas split 2 and
    1; each replica's loss weighs by its rows. (Keras's plain mean over each
    replica's rows left the weights 0.006 apart; training moved them 0.035.)"""
    task = tiny_task("classification", tmp_path, cell="gru")
    settings = {"dropout": 0.0, "embedding_dropout": 0.0, "batch_size": 9}
    trains_alike(task, settings, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_stateful_model_on_two_replicas_gives_the_default_strategys_weights(
    tmp_path, cell
):
    """Each replica carries the state rows of its half of every batch; a
    replica reading another's rows would change the weights (by 0.07 when
    both read the first half)."""
    task = tiny_task("generation", tmp_path, cell=cell, stateful=True, batch_size=4)
    trains_alike(task, {"dropout": 0.0}, tmp_path)


def trains_alike(task, settings, cwd):
    """Checks that `task` with `settings` trains to the same weights on two
    mirrored replicas as with the default strategy."""
    result = run([*MIRROR_EQUALITY, str(task), json.dumps(settings)], cwd=cwd)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["replicas"] == 2
    assert found["moved"] > 1e-3  # training changed the weights
    assert found["difference"] <= 1e-5, found


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, streaming",
    [
        ("classification", False),
        ("generation", False),
        ("translation", False),
        ("classification", True),
        ("generation", True),
    ],
)
def test_every_template_trains_mirrored_on_two_replicas(tmp_path, kind, streaming):
    """Generation's language model and translation's seq2seq model are
    subclassed models with masks and returned states; translation's batches
    vary in size and length. Data streamed from disk is split between the
    replicas as data in memory is."""
    task = tiny_task(kind, tmp_path)
    result = run(
        [*SPLIT_CPU, "2", "train", str(task), "--strategy", "mirrored"]
        + ["--set", f"streaming={str(streaming).lower()}"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    *_, folder, summary = result.stdout.splitlines()
    assert summary.startswith("validation: ")
    metrics = json.loads((pathlib.Path(folder) / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 1
