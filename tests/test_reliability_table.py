"""The README's Reliability table names tests that exist, for every promise."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def table_rows():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Reliability") :]
    section = section[: section.index("\n## ")]
    return [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]


def test_every_promise_has_a_row():
    numbers = [int(row.split("|")[1]) for row in table_rows()]
    assert numbers == list(range(1, 43))


def test_every_test_the_table_names_exists():
    missing = []
    for row in table_rows():
        path = None
        for reference in re.findall(r"`([\w/.]*(?:::\w+)?)`", row.split("|")[3]):
            file, _, name = reference.partition("::")
            if file and not pathlib.PurePath(file).name.startswith("test_"):
                continue  # a module of rnnkit, not a test file
            path = ROOT / "tests" / file if file else path
            if not path.is_file():
                missing.append(reference)
            elif name and not re.search(rf"def {name}\(", path.read_text()):
                missing.append(reference)
    assert missing == []
