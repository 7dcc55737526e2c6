"""Reading parallel text: `source<TAB>target` lines, or two aligned files.

Lines are never paired up silently: files with different line counts are an
error that gives both counts.
"""

import dataclasses

import numpy as np

from rnnkit.templates.errors import DataError
from rnnkit.templates.text_files import read_text, report_skipped, require_rows


@dataclasses.dataclass
class Pairs:
    """Source texts and their targets, read from `source`."""

    texts: list  # the source side
    labels: list  # the target side
    source: str
    skipped: int = 0  # pairs left out because one side was empty

    def __len__(self):
        return len(self.texts)


def _lines(path, errors):
    text = read_text(path, errors)
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_pairs(path, target_path=None, errors="strict"):
    """A TSV (`source<TAB>target`, extra columns ignored), or with
    `target_path`, two files whose lines are aligned."""
    if target_path is None:
        rows = []
        for number, line in enumerate(_lines(path, errors), 1):
            if not line.strip():
                rows.append(("", ""))
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise DataError(
                    f"{path}, line {number}: expected source<TAB>target; found no tab"
                )
            rows.append((fields[0], fields[1]))
    else:
        sources, targets = _lines(path, errors), _lines(target_path, errors)
        if len(sources) != len(targets):
            raise DataError(
                f"{path} has {len(sources)} lines but {target_path} has "
                f"{len(targets)}; the files must be aligned line by line"
            )
        rows = list(zip(sources, targets))
    kept = [(s.strip(), t.strip()) for s, t in rows if s.strip() and t.strip()]
    require_rows(len(kept), path, len(rows) - len(kept))
    pairs = Pairs(
        [s for s, _ in kept], [t for _, t in kept], str(path), len(rows) - len(kept)
    )
    report_skipped(pairs)
    return pairs


def split(pairs, fraction, seed):
    """A seeded random split: `(train, validation)`."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    held = max(1, round(len(pairs) * fraction))
    if held >= len(pairs):
        raise DataError(f"{pairs.source}: too few pairs to hold any out for validation")

    def subset(indices, source):
        indices = sorted(indices)
        return Pairs(
            [pairs.texts[i] for i in indices],
            [pairs.labels[i] for i in indices],
            source,
        )

    train = subset(order[held:], pairs.source)
    train.skipped = pairs.skipped
    return train, subset(order[:held], f"{pairs.source} (validation split)")
