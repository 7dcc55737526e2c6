"""The baselines against hand-computed numbers: the conditional-compression
formula, scikit-learn's pipelines on separable and mislabelled data, and
copying the source under sacreBLEU."""

import bz2
import gzip
import lzma
import random
import sys

import pytest
import sacrebleu

from rnnkit.templates import baselines
from rnnkit.templates.errors import RnnkitError

LETTERS = "abcdefghijklmnopqrstuvwxyz"
TRAIN = (
    "the quick brown fox jumps over the lazy dog. " * 40
    + "a stitch in time saves nine; many hands make light work. " * 30
)
HELD_OUT = "the lazy dog sleeps while the quick fox saves nine stitches. " * 5


def by_hand(compress, train, held_out):
    """The formula, written out: extra bytes of held_out after train, in bits
    per Unicode character."""
    extra = len(compress((train + held_out).encode())) - len(compress(train.encode()))
    return 8 * extra / len(held_out)


HAND_COMPRESSORS = {
    "gzip": lambda data: gzip.compress(data, compresslevel=9, mtime=0),
    "bz2": lambda data: bz2.compress(data, 9),
    "xz": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
}


@pytest.mark.parametrize("codec", ["gzip", "bz2", "xz"])
def test_conditional_bits_per_character_is_the_formula(codec):
    expected = by_hand(HAND_COMPRESSORS[codec], TRAIN, HELD_OUT)
    assert baselines.conditional_bits_per_character(TRAIN, HELD_OUT, codec) == (
        expected
    )
    assert 0 < expected < 8


def random_letters(rng, length):
    return "".join(rng.choice(LETTERS) for _ in range(length))


def random_words(rng, count, vocabulary=300):
    words = [random_letters(rng, rng.randint(2, 8)) for _ in range(vocabulary)]
    return " ".join(rng.choice(words) for _ in range(count))


@pytest.mark.parametrize("codec", ["gzip", "bz2", "xz"])
def test_each_codec_runs_at_its_strongest_setting(codec):
    # Byte for byte: gzip's header flags level 9, bz2's names its 900 KB
    # blocks, and on this text xz's extreme mode changes the stream.
    data = random_words(random.Random(1), 3000).encode()
    assert baselines.COMPRESSORS[codec](data) == HAND_COMPRESSORS[codec](data)


def test_compression_baselines_gives_each_codec():
    result = baselines.compression_baselines(TRAIN, HELD_OUT)
    assert set(result) == {"gzip", "bz2", "xz"}
    for codec, bits in result.items():
        assert bits == by_hand(HAND_COMPRESSORS[codec], TRAIN, HELD_OUT)


def test_a_held_out_text_seen_in_training_costs_far_fewer_bits():
    rng = random.Random(0)
    train = random_words(rng, 3000)  # ~18 KB, within gzip's 32 KB window
    repeated = baselines.compression_baselines(train, train[:4000])
    unrelated = baselines.compression_baselines(train, random_letters(rng, 4000))
    for codec in ("gzip", "bz2", "xz"):
        # Random letters carry log2(26) = 4.7 bits each; no codec gets below.
        assert unrelated[codec] > 4.7
        assert repeated[codec] < unrelated[codec] / 4


def test_bits_are_per_unicode_character_not_per_byte():
    train = "le café est crème, la crème est brûlée. " * 20
    held_out = "crème brûlée au café. " * 3
    assert len(held_out.encode()) != len(held_out)
    bits = baselines.conditional_bits_per_character(train, held_out, "xz")
    assert bits == by_hand(HAND_COMPRESSORS["xz"], train, held_out)
    extra = bits * len(held_out) / 8
    assert extra == pytest.approx(round(extra))  # a whole number of bytes
    assert bits != pytest.approx(8 * round(extra) / len(held_out.encode()))


def test_an_empty_held_out_text_is_an_error():
    with pytest.raises(ValueError, match="held-out text is empty"):
        baselines.compression_baselines(TRAIN, "")


def test_an_unknown_codec_is_an_error():
    with pytest.raises(ValueError, match="Received: 'zstd'"):
        baselines.conditional_bits_per_character(TRAIN, HELD_OUT, "zstd")


TOPICS = {
    "sport": "goal match striker referee penalty league keeper stadium".split(),
    "cooking": "oven flour butter recipe simmer garlic onion skillet".split(),
    "space": "orbit rocket planet comet galaxy telescope astronaut nebula".split(),
}


def topic_texts(per_topic, seed):
    """Short texts of five words each from one topic's vocabulary."""
    rng = random.Random(seed)
    texts, labels = [], []
    for label, words in TOPICS.items():
        for _ in range(per_topic):
            texts.append(" ".join(rng.choices(words, k=5)))
            labels.append(label)
    return texts, labels


BASELINES = [baselines.tfidf_logistic_regression, baselines.tfidf_linear_svm]


@pytest.mark.parametrize("baseline", BASELINES)
def test_separable_topics_are_classified_perfectly(baseline):
    train, validation = topic_texts(10, seed=0), topic_texts(4, seed=1)
    assert not set(train[0]) & set(validation[0])  # no validation text seen
    result = baseline(*train, *validation)
    assert result["accuracy"] == 1.0 and result["macro_f1"] == 1.0
    assert "TF-IDF" in result["name"] and result["seconds"] > 0


@pytest.mark.parametrize("baseline", BASELINES)
def test_validation_labels_that_disagree_with_topics_score_low(baseline):
    train, (texts, labels) = topic_texts(10, seed=0), topic_texts(4, seed=1)
    rotation = {"sport": "cooking", "cooking": "space", "space": "sport"}
    # The first validation label of each topic moved to the next topic: the
    # baseline still predicts the topic, so exactly those three are wrong.
    wrong = [rotation[lab] if i % 4 == 0 else lab for i, lab in enumerate(labels)]
    result = baseline(*train, texts, wrong)
    assert result["accuracy"] == pytest.approx(9 / 12)
    # Confusion (true rows) [[3,0,1],[1,3,0],[0,1,3]] over sport, cooking,
    # space: each F1 = 2*3/(4+4) = 0.75.
    assert result["macro_f1"] == pytest.approx(0.75)
    every = [rotation[label] for label in labels]
    assert baseline(*train, texts, every)["accuracy"] == 0.0


def test_the_classifiers_say_how_to_install_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import now fails
    train = topic_texts(2, seed=0)
    for baseline in BASELINES:
        with pytest.raises(RnnkitError, match="pip install scikit-learn"):
            baseline(*train, *train)


def test_copying_identical_references_scores_100():
    sources = ["the cat sat on the mat .", "a dog barked at the postman all day ."]
    result = baselines.copy_source_scores(sources, sources)
    assert result["name"] == "copy the source"
    assert result["bleu"] == pytest.approx(100.0)
    assert result["chrf"] == pytest.approx(100.0)


def test_copying_a_disjoint_source_scores_near_zero():
    sources = ["12345 67890 24680", "13579 11223 44556"]
    references = ["the cat sat on the mat", "a dog barked at the postman"]
    result = baselines.copy_source_scores(sources, references)
    assert result["bleu"] < 1 and result["chrf"] < 1


def test_copy_source_scores_are_sacrebleu_s_cased_defaults():
    sources = ["The Cat sat on the mat today .", "Paris is in France , said Anna ."]
    references = ["the cat sat on the mat today .", "Paris is in France , Anna said ."]
    result = baselines.copy_source_scores(sources, references)
    bleu = sacrebleu.corpus_bleu(sources, [references]).score
    chrf = sacrebleu.corpus_chrf(sources, [references]).score
    assert result["bleu"] == pytest.approx(bleu) and 0 < bleu < 100
    assert result["chrf"] == pytest.approx(chrf) and 0 < chrf < 100
    lowercased = sacrebleu.corpus_bleu(sources, [references], lowercase=True)
    assert result["bleu"] != pytest.approx(lowercased.score)
