"""`streaming = true`: every template reads its data from disk in passes,
with the checks, vocabularies, windows and arrays of reading it in memory."""

import gzip

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnkit.templates import (
    corpus_stream,
    streaming,
    tasks,
    text_files,
    vectorize,
    workflow,
)
from rnnkit.templates.errors import ConfigError, DataError

FORTUNES = tasks.template_folder("classification") / "data" / "fortunes.csv"


def locate(kind):
    return tasks.locate(kind)


def both_ways(task, overrides, folder=None):
    """The task's data read in memory and streamed, with `overrides`."""
    folder = folder or task.folder
    memory = task.module.read_data(task.config(overrides), folder)
    config = task.config({**overrides, "streaming": True})
    return memory, task.module.read_data(config, folder), config


# Reading files a line at a time ------------------------------------------


def test_lines_name_a_bad_byte_as_reading_the_whole_file_does(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"text,label\nfine,a\nca\xe9 au lait,b\n")
    with pytest.raises(DataError) as whole:
        text_files.read_text(path)
    with pytest.raises(DataError) as streamed:
        list(streaming.lines(path))
    assert str(streamed.value) == str(whole.value)
    assert "line 3: byte 20 (column 2)" in str(streamed.value)


def test_lines_of_a_gzip_file_and_a_damaged_one(tmp_path):
    path = tmp_path / "data.tsv.gz"
    path.write_bytes(gzip.compress("\ufeffone\ttwo\nthree\tfour\n".encode()))
    assert list(streaming.lines(path)) == ["one\ttwo\n", "three\tfour\n"]
    path.write_bytes(gzip.compress(b"one\ttwo\n" * 1000)[:-20])
    with pytest.raises(DataError, match="not a readable gzip file"):
        list(streaming.lines(path))


def test_labelled_rows_are_the_rows_read_in_memory():
    memory = text_files.read_labelled(FORTUNES)
    rows = [(t, label) for _, t, label in streaming.labelled_rows(FORTUNES) if t]
    assert rows == list(zip(memory.texts, memory.labels))


def test_a_bad_row_is_named_by_file_and_line_when_streaming(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('text,label\n"a, b",x\none,two,three\n')
    with pytest.raises(DataError, match=r"data.csv, line 3: 3 fields, but the"):
        list(streaming.labelled_rows(path))


def test_the_streaming_split_is_disjoint_deterministic_and_about_its_size():
    texts = [f"text number {i}" for i in range(20000)]
    held = [streaming.in_validation(t, 0.2, 42) for t in texts]
    assert held == [streaming.in_validation(t, 0.2, 42) for t in texts]
    assert abs(np.mean(held) - 0.2) < 0.01
    other_seed = [streaming.in_validation(t, 0.2, 7) for t in texts]
    assert held != other_seed


def test_a_reservoir_is_a_seeded_sample_of_its_size():
    def sample(seed):
        reservoir = streaming.Reservoir(100, seed)
        for item in range(10000):
            reservoir.add(item)
        return reservoir.items

    assert sample(1) == sample(1) != sample(2)
    assert len(set(sample(1))) == 100 and max(sample(1)) > 5000


# Classification -------------------------------------------------------------


def test_classification_streams_every_row_into_one_part():
    task = locate("classification")
    memory, streamed, config = both_ways(task, {})
    assert len(streamed.train) + len(streamed.validation) == len(memory.train) + len(
        memory.validation
    )
    assert streamed.labels.labels == memory.labels.labels
    train, validation = task.module.datasets(config, streamed)
    seen = [t.decode() for texts, _ in validation for t in texts.numpy()]
    assert len(seen) == len(streamed.validation)
    assert all(streaming.in_validation(t, 0.2, 42) for t in seen)
    assert train.cardinality() == -(-len(streamed.train) // config["batch_size"])


def test_classification_vocabulary_is_the_same_counted_as_it_streams(tmp_path):
    task = locate("classification")
    # With validation_data, both ways train on every row of `data`.
    overrides = {"validation_data": str(FORTUNES)}
    memory, streamed, config = both_ways(task, overrides)

    def vocabulary(texts):
        return vectorize.text_vectorizer("word", 500, 20, texts).get_vocabulary()

    assert vocabulary(streamed.vocabulary_texts) == vocabulary(memory.train.texts)
    sampled = task.module.read_data(
        config.updated({"vocabulary_sample": 200}), task.folder
    )
    assert len(sampled.vocabulary_texts) == 200
    assert set(sampled.vocabulary_texts) <= set(memory.train.texts)


def test_classification_labels_and_ids_streamed_match_the_file():
    task = locate("classification")
    _, streamed, config = both_ways(task, {"validation_data": str(FORTUNES)})
    train, _ = task.module.datasets(config.updated({"shuffle_buffer": 1}), streamed)
    memory = text_files.read_labelled(FORTUNES)
    ids = [int(i) for _, batch in train for i in batch.numpy()]
    assert [streamed.labels.labels[i] for i in ids] == memory.labels


def test_a_label_only_in_the_streamed_validation_part_is_an_error(tmp_path):
    rows = ["text,label"] + [f"text {i},common" for i in range(40)]
    rows += [f"other {i},second" for i in range(40)]
    held_out = next(
        f"rare {i}"
        for i in range(1000)
        if streaming.in_validation(f"rare {i}", 0.2, 42)
    )
    (tmp_path / "data.csv").write_text("\n".join([*rows, f"{held_out},rare"]) + "\n")
    task = locate("classification")
    config = task.config({"data": str(tmp_path / "data.csv"), "streaming": True})
    with pytest.raises(DataError, match=r"label\(s\) \['rare'\] never appear"):
        task.module.read_data(config, task.folder)


# Generation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "tokenization, stride",
    [("character", 50), ("word", 30), ("character", 7)],
)
def test_generation_streams_the_same_windows_vocabulary_and_prompt(
    tmp_path, tokenization, stride
):
    text = (tasks.template_folder("generation") / "data").glob("*.txt")
    corpus = next(text).read_text()[:60000]  # a slice keeps the test quick
    (tmp_path / "corpus.txt").write_text(corpus)
    task = locate("generation")
    overrides = {
        "data": str(tmp_path / "corpus.txt"),
        "tokenization": tokenization,
        "stride": stride,
        "vocabulary_size": 300,
    }
    memory, streamed, config = both_ways(task, overrides)
    assert streamed.encoder.vocabulary == memory.encoder.vocabulary
    assert streamed.prompt == memory.prompt
    assert len(streamed.train_ids) == len(memory.train_ids)
    assert len(streamed.validation_ids) == len(memory.validation_ids)
    inputs, targets = task.module.windows(memory.train_ids, 100, stride)
    ids = streamed.train_ids.token_ids(streamed.encoder)
    windows = corpus_stream.windows(ids, len(streamed.train_ids), 100, stride)
    assert windows.cardinality() == len(targets)
    pairs = list(windows.as_numpy_iterator())
    np.testing.assert_array_equal(np.stack([x for x, _ in pairs]), inputs)
    np.testing.assert_array_equal(np.stack([y for _, y in pairs]), targets)
    ids = streamed.validation_ids.token_ids(streamed.encoder)
    np.testing.assert_array_equal(list(ids.as_numpy_iterator()), memory.validation_ids)


def test_a_folder_streams_as_the_files_joined_by_blank_lines(tmp_path):
    (tmp_path / "a.txt").write_text("first file\nends here\n")
    (tmp_path / "b.txt").write_text("   \n\n")  # whitespace only: left out
    (tmp_path / "c.txt").write_text("\n  second file")
    joined = "".join(corpus_stream.corpus_chunks(tmp_path))
    assert joined == text_files.read_corpus(tmp_path)


def test_streaming_a_stateful_model_is_refused():
    task = locate("generation")
    config = task.config({"streaming": True, "stateful": True})
    with pytest.raises(ConfigError, match="stateful training .* needs it in memory"):
        task.module.read_data(config, task.folder)


# Translation ----------------------------------------------------------------


def test_translation_streams_the_arrays_of_reading_in_memory(tmp_path):
    task = locate("translation")
    pairs = text_files.read_text(task.folder / "data" / "eng-spa.tsv.gz")
    (tmp_path / "pairs.tsv").write_text("\n".join(pairs.split("\n")[:3000]) + "\n")
    overrides = {
        "data": str(tmp_path / "pairs.tsv"),
        "validation_data": str(tmp_path / "pairs.tsv"),
    }
    memory, streamed, config = both_ways(task, overrides)
    for side in ("source", "target"):
        assert getattr(streamed, side).vocabulary == getattr(memory, side).vocabulary
    assert len(streamed.train) == len(memory.train)
    expected = task.module.arrays(config, memory, memory.validation)
    ds = task.module.streamed_arrays(config, streamed, streamed.validation)
    rows = list(ds)
    assert len(list(ds)) == len(rows)  # every epoch reads the file again
    np.testing.assert_array_equal(np.stack([r[0][0] for r in rows]), expected[0][0])
    np.testing.assert_array_equal(np.stack([r[0][1] for r in rows]), expected[0][1])
    np.testing.assert_array_equal(np.stack([r[1] for r in rows]), expected[1])
    np.testing.assert_array_equal(np.stack([r[2] for r in rows]), expected[2])


def test_aligned_files_of_different_lengths_are_an_error_with_both_counts(tmp_path):
    (tmp_path / "en.txt").write_text("one\ntwo\nthree\n")
    (tmp_path / "es.txt").write_text("uno\ndos\n")
    rows = streaming.aligned_rows(tmp_path / "en.txt", tmp_path / "es.txt")
    with pytest.raises(DataError, match=r"en.txt has 3 lines but .*es.txt has 2"):
        list(rows)


def test_a_file_that_changes_while_training_stops_it_naming_the_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(50)))
    stream = streaming.LabelledStream(path, ("text", "label"))
    streaming.scan([stream])
    ds = streaming.labelled_dataset(stream, {"0": 0, "1": 1}, 8)
    path.write_bytes(path.read_bytes() + b"caf\xe9,1\n")
    with pytest.raises(DataError, match=r"data.csv, line 52: byte 5"):
        with streaming.pipeline_errors():
            list(ds)
    with pytest.raises(tf.errors.OpError):  # outside it: TensorFlow's error
        list(ds)


def test_a_bad_line_found_mid_training_is_the_error_naming_it(tmp_path):
    folder = tasks.copy_template("classification", tmp_path / "task")
    data = folder / "data" / "fortunes.csv"
    data.write_text(
        "text,label\n" + "".join(f"word{i % 7} text {i},{i % 2}\n" for i in range(60))
    )

    class DamageTheFile(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            with open(data, "ab") as file:
                file.write(b"caf\xe9,1\n")

    small = {"units": 4, "embedding_dim": 4, "sequence_length": 8, "epochs": 3}
    with pytest.raises(
        DataError, match=r"fortunes.csv, line 62: byte \d+ \(column 3\)"
    ):
        workflow.train(
            folder,
            overrides={**small, "streaming": True},
            verbose=0,
            callbacks=[DamageTheFile()],
        )
