"""Build an English-Spanish parallel corpus from two public-domain Bibles.

Sources are Debian packages of SWORD modules: the World English Bible
(``sword-text-web``, module ``engWEB2015eb``) and the Spanish Reina-Valera
1909 (``sword-text-sparv``, module ``spaRV1909eb``). Each module is exported
with ``mod2imp`` (package ``libsword-utils``), its OSIS markup is stripped
(footnotes, cross references, section headings and speaker labels are dropped
with their text), and the verses are paired by reference.

A pair is kept when

* both verses are non-empty and not merged with a neighbour (a linked verse
  repeats the text of the previous one),
* it is not the last verse of a book (the Spanish epistles end with a
  subscription such as "Escrita de Roma ...", the English Revelation with a
  glossary),
* its chapter, and the chapter before it, have no verse that is empty in one
  module only: that is where the two versifications differ and the verse
  numbers of the Spanish text are shifted,
* the verse lengths around it agree better unshifted than shifted by one verse
  (this catches shifts inside a chapter),
* both sides have at most ``--max-words`` words and their character lengths
  differ by a factor of at most 2.5.

Usage::

    python benchmarks/data/bible_corpus.py OUT.tsv [--max-words N]

Writes ``english<TAB>spanish`` lines, UTF-8, in Bible order. Only the
standard library is used; ``mod2imp`` must be on ``PATH``.
"""

import argparse
import html
import math
import os
import re
import subprocess
import sys

ENGLISH = "engWEB2015eb"
SPANISH = "spaRV1909eb"
SWORD_PATH = "/usr/share/sword"

MAX_WORDS = 20  # default: both sides at most this many words
MAX_RATIO = 2.5  # character-length ratio allowed between the two sides
WINDOW = 2  # verses either side compared when looking for a local shift
MAX_LOCAL_SPREAD = 0.3  # mean |log length ratio| above this: misaligned
SHIFT_MARGIN = 0.05  # how much better a shifted alignment must fit

REFERENCE = re.compile(r"^(?P<book>.+) (?P<chapter>\d+):(?P<verse>\d+)$")
# Elements dropped together with their text: footnotes and cross references,
# section headings (but not the canonical psalm titles, which the Spanish
# text carries inside verse 1 too) and speaker labels.
DROPPED = re.compile(
    r"<note\b.*?</note>"
    r'|<title\b(?![^>]*canonical="true")[^>]*>.*?</title>'
    r"|<speaker\b.*?</speaker>",
    re.S,
)
# Two adjacent elements, as in "allí</w><transChange>también", are two words.
ADJACENT = re.compile(r"(</[^>]+>)(?=<[^/])")
BLOCK = re.compile(r"</?(?:chapter|div|item|l|lb|lg|list|milestone|p|title)\b[^>]*>")
TAG = re.compile(r"<[^>]*>")
SPACE = re.compile(r"\s+")
SPACE_AFTER_OPENING = re.compile(r"([“‘¿¡(\[]) ")
SPACE_BEFORE_CLOSING = re.compile(r" ([,.;:!?’”)\]])")


def export(module):
    """Return the IMP export of a SWORD module as text."""
    env = dict(os.environ)
    env.setdefault("SWORD_PATH", SWORD_PATH)
    result = subprocess.run(
        ["mod2imp", module], env=env, capture_output=True, check=True
    )
    return result.stdout.decode("utf-8")


def parse_imp(text):
    """Yield (key, raw entry) pairs from IMP text (``$$$key`` then body)."""
    key, body = None, []
    for line in text.splitlines():
        if line.startswith("$$$"):
            if key is not None:
                yield key, "\n".join(body)
            key, body = line[3:].strip(), []
        else:
            body.append(line)
    if key is not None:
        yield key, "\n".join(body)


def plain_text(markup):
    """Strip OSIS markup and notes, decode entities, collapse whitespace.

    Inline tags (words with Strong's numbers, added words, quotations) are
    removed without a trace; structural ones and dropped notes leave a space,
    which is then taken out again next to punctuation.
    """
    text = DROPPED.sub(" ", markup)
    text = ADJACENT.sub(r"\1 ", text)
    text = TAG.sub("", BLOCK.sub(" ", text))
    text = SPACE.sub(" ", html.unescape(text)).strip()
    text = SPACE_AFTER_OPENING.sub(r"\1", text)
    return SPACE_BEFORE_CLOSING.sub(r"\1", text)


def verses(module):
    """Return {(book, chapter, verse): text} for a module, in Bible order.

    Headings (chapter or verse 0) are skipped. Empty verses are kept (as
    "") so that versification gaps can be seen; linked verses, which repeat
    the previous entry, are emptied together with that entry.
    """
    texts, previous = {}, None
    for key, raw in parse_imp(export(module)):
        match = REFERENCE.match(key)
        if not match or match["chapter"] == "0" or match["verse"] == "0":
            continue
        ref = (match["book"], int(match["chapter"]), int(match["verse"]))
        text = plain_text(raw)
        if text and previous and text == texts[previous]:
            texts[previous] = text = ""
        texts[ref] = text
        previous = ref
    return texts


def gap_chapters(english, spanish):
    """Chapters next to a verse that is empty in one module but not the other.

    Returns the set of (book, chapter) holding such a verse, together with
    the chapter after each of them, into which the shift usually runs.
    """
    books = {ref[0] for ref in spanish}
    gaps = set()
    for ref in english.keys() | spanish.keys():
        if ref[0] in books and bool(english.get(ref)) != bool(spanish.get(ref)):
            gaps.add(ref[:2])
            gaps.add((ref[0], ref[1] + 1))
    return gaps


def length_spread(english, spanish, ref, shift):
    """Mean |log length ratio| around ``ref``, English shifted by ``shift``."""
    book, chapter, verse = ref
    logs = []
    for v in range(verse - WINDOW, verse + WINDOW + 1):
        eng = english.get((book, chapter, v + shift))
        spa = spanish.get((book, chapter, v))
        if eng and spa:
            logs.append(abs(math.log(len(eng) / len(spa))))
    return sum(logs) / len(logs) if logs else math.inf


def locally_aligned(english, spanish, ref):
    """Whether verse lengths near ``ref`` fit unshifted better than shifted."""
    spread = length_spread(english, spanish, ref, 0)
    shifted = min(length_spread(english, spanish, ref, s) for s in (-1, 1))
    return spread < MAX_LOCAL_SPREAD and spread <= shifted + SHIFT_MARGIN


def short_and_similar(eng, spa, max_words):
    """Whether both sides are short and of comparable length."""
    if len(eng.split()) > max_words or len(spa.split()) > max_words:
        return False
    return 1 / MAX_RATIO <= len(eng) / len(spa) <= MAX_RATIO


def last_verses(texts):
    """References of the last verse of each book."""
    last = {}
    for ref in texts:
        last[ref[0]] = ref
    return set(last.values())


def pairs(max_words):
    """Yield aligned (english, spanish) verse pairs in Bible order."""
    english, spanish = verses(ENGLISH), verses(SPANISH)
    skip = last_verses(english) | last_verses(spanish)
    gaps = gap_chapters(english, spanish)
    for ref, eng in english.items():
        spa = spanish.get(ref)
        if not (eng and spa) or ref in skip or ref[:2] in gaps:
            continue
        if not short_and_similar(eng, spa, max_words):
            continue
        if locally_aligned(english, spanish, ref):
            yield eng, spa


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="TSV file to write")
    parser.add_argument(
        "--max-words",
        type=int,
        default=MAX_WORDS,
        help=f"longest verse kept, in words, on either side (default {MAX_WORDS})",
    )
    args = parser.parse_args(argv)
    count = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        for eng, spa in pairs(args.max_words):
            out.write(f"{eng}\t{spa}\n")
            count += 1
    print(f"{count} pairs written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
