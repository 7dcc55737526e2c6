"""The code passes ruff (E, F, I, B, UP at line length 88, see pyproject)."""

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ruff_passes():
    ruff = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent))
    assert ruff, "ruff is part of the `test` extra: pip install -e '.[test]'"
    result = subprocess.run(
        [ruff, "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
