"""The task contract: the hooks a task.py provides, checked on loading, and
the boundaries between rnnkit's packages."""

import ast
import pathlib
import re

import pytest

from rnnkit.templates import config as settings
from rnnkit.templates import contract, tasks
from rnnkit.templates.errors import RnnkitError

ROOT = pathlib.Path(__file__).resolve().parents[2]


def copied(tmp_path, kind="classification"):
    return tasks.copy_template(kind, tmp_path / "task")


def edit(path, old, new):
    """Replaces `old` in the file at `path`, which must hold it once."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("kind", tasks.BUILT_IN)
def test_every_template_keeps_the_contract(kind):
    module = tasks.locate(kind).module
    for hook in contract.HOOKS:
        assert hook.required <= hasattr(module, hook.name), hook.name


def test_a_missing_hook_is_named_with_the_file(tmp_path):
    folder = copied(tmp_path)
    edit(
        folder / "task.py",
        "def read_examples(config, path):",
        "def read_example(config, path):",
    )
    with pytest.raises(
        contract.ContractError,
        match=rf"{re.escape(str(folder / 'task.py'))}: no `read_examples`; a task.py "
        r"must define it \(read_examples\(config, path\) -> held-out examples",
    ):
        tasks.locate(folder)


def test_a_hook_with_other_arguments_is_named_with_its_signature(tmp_path):
    folder = copied(tmp_path)
    edit(
        folder / "task.py", "def build_model(config, data):", "def build_model(config):"
    )
    with pytest.raises(
        contract.ContractError,
        match=r"task.py: `build_model\(config\)` must take \(config, data\)",
    ):
        tasks.locate(folder)


def test_a_constant_that_is_missing_is_named(tmp_path):
    folder = copied(tmp_path)
    edit(folder / "task.py", 'TASK = "classification"\n', "")
    with pytest.raises(contract.ContractError, match=r"no `TASK`"):
        tasks.locate(folder)


def test_optional_hooks_may_be_left_out(tmp_path):
    folder = copied(tmp_path)
    edit(folder / "task.py", "def evaluation_report(", "def _unused_report(")
    assert not hasattr(tasks.locate(folder).module, "evaluation_report")


def test_a_syntax_error_in_task_py_is_one_line_with_file_and_line(tmp_path):
    folder = copied(tmp_path)
    edit(folder / "task.py", "# Setup ---", "def broken(:\n# Setup ---")
    with pytest.raises(RnnkitError, match=r"task.py, line \d+: invalid syntax"):
        tasks.locate(folder)


def test_the_contract_reads_as_one_line_per_hook():
    lines = contract.describe().splitlines()
    assert len(lines) == len(contract.HOOKS)
    assert "serving(model, meta) -> export.Serving: the SavedModel's API" in lines


def test_a_missing_template_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tasks, "TEMPLATES", tmp_path)  # an install without them
    with pytest.raises(RnnkitError, match=r"the generation template is missing"):
        tasks.copy_template("generation", tmp_path / "copy")


def test_a_copy_reads_its_own_config_not_the_built_in_one(tmp_path):
    folder = copied(tmp_path)
    config = folder / "config.toml"
    config.write_text("recurrent_dropout = 0.25\n" + config.read_text())
    resolved = tasks.locate(folder).config({"recurrent_dropout": 0.5})
    assert resolved["recurrent_dropout"] == 0.5
    assert isinstance(resolved, settings.Config)


def test_a_setting_the_code_needs_but_the_copy_lacks_names_both(tmp_path):
    folder = copied(tmp_path)
    edit(folder / "config.toml", "patience = 3 ", "# patience removed ")
    task = tasks.locate(folder)
    with pytest.raises(
        RnnkitError,
        match=rf"{re.escape(str(folder / 'task.py'))} uses the setting `patience`, "
        rf"but {re.escape(str(folder / 'config.toml'))} does not set it",
    ):
        task.config()["patience"]


# Package boundaries ------------------------------------------------------------


def imported_modules(path):
    """Every module name `path` imports (`from a import b` gives `a.b`)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("package", ["templates", "tuning"])
def test_templates_and_tuning_never_import_the_front_door(package):
    """`rnnkit/` (the CLI, the demo, `rnnkit.__version__`) sits above them."""
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[:2]
            inside = len(top) == 2 and top[1] in ("layers", "templates", "tuning")
            if top[0] == "rnnkit" and not inside:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
            if package == "templates" and name.startswith("rnnkit.tuning"):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_the_cell_type_names_are_defined_once():
    pattern = re.compile(r"""["']rnn["'],\s*["']gru["'],\s*["']lstm["']""")
    found = [
        str(path.relative_to(ROOT))
        for folder in ("rnnkit", "layers", "templates", "tuning")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if pattern.search(path.read_text())
    ]
    assert found == ["layers/factory.py"]


def test_the_readme_lists_every_hook():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Editing a template") :]
    section = section[: section.index("\n## ")]
    missing = [h.name for h in contract.HOOKS if f"`{h.name}" not in section]
    assert missing == []
