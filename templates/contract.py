"""The task contract: what a `task.py` provides, checked when it is loaded.

rnnkit calls a task only through the names below. A copied task may change
anything behind them (its data format, its model, its signatures), and
loading it checks that each name is there with the arguments rnnkit passes,
so a missing or misnamed hook is one error naming the hook and the file
rather than an AttributeError in the middle of training. The README's
"Editing a template" walks through them.
"""

import dataclasses
import inspect

from rnnkit.templates.errors import RnnkitError


class ContractError(RnnkitError):
    """A task.py that lacks a hook or defines one with other arguments."""


@dataclasses.dataclass(frozen=True)
class Hook:
    name: str
    arguments: tuple  # None for a constant
    returns: str
    required: bool = True


HOOKS = (
    # Configuration
    Hook("TASK", None, "str: the template the task follows, recorded in exports"),
    Hook("MONITOR", None, "str: the validation metric early stopping watches"),
    Hook("MONITOR_MODE", None, 'str: "min" or "max" for MONITOR'),
    Hook("PRIMARY_METRIC", None, "str: the metrics.json key that ranks runs"),
    Hook("PRIMARY_MODE", None, 'str: "min" or "max" for PRIMARY_METRIC'),
    Hook("check_config", ("config",), "None; raises ConfigError for bad settings"),
    # Data
    Hook("read_data", ("config", "folder"), "the task's data, checked"),
    Hook("datasets", ("config", "data"), "(train, validation) tf.data.Datasets"),
    Hook("data_summary", ("data",), "dict: counts recorded in metrics.json"),
    Hook("read_examples", ("config", "path"), "held-out examples for evaluate"),
    # Model
    Hook("hyperparameters", ("hp", "config"), "dict: the trial's settings"),
    Hook("build_model", ("config", "data"), "a compiled keras.Model"),
    # Inference and export
    Hook("validate", ("model", "config", "data", "meta"), "dict: metrics.json"),
    Hook("metadata", ("config", "data", "model"), "dict: for assets/rnnkit.json"),
    Hook("serving", ("model", "meta"), "export.Serving: the SavedModel's API"),
    # Optional
    Hook("training_callbacks", ("config",), "list of Keras callbacks", False),
    Hook("evaluation_report", ("result", "folder"), "None; writes pictures", False),
    Hook(
        "baselines",
        ("config", "data"),
        "list of dicts: simple models of the field on the same split, each "
        "with a name, PRIMARY_METRIC and seconds",
        False,
    ),
    Hook(
        "recurrent_inputs",
        ("model", "texts"),
        "(tokens, vectors): what the first recurrent layer reads",
        False,
    ),
)


def check(module, path):
    """Raises `ContractError` naming the first hook `module` (loaded from
    `path`) lacks or defines with other arguments."""
    for hook in HOOKS:
        if not hasattr(module, hook.name):
            if not hook.required:
                continue
            raise ContractError(
                f"{path}: no `{hook.name}`; a task.py must define it "
                f"({_describe(hook)}). See the README's 'Editing a template'"
            )
        value = getattr(module, hook.name)
        if hook.arguments is None:
            continue
        if not callable(value):
            raise ContractError(f"{path}: `{hook.name}` must be a function")
        signature = inspect.signature(value)
        try:  # rnnkit passes the arguments by position
            signature.bind(*hook.arguments)
        except TypeError:
            raise ContractError(
                f"{path}: `{hook.name}{signature}` must take "
                f"({', '.join(hook.arguments)}): {_describe(hook)}"
            ) from None


def _describe(hook):
    if hook.arguments is None:
        return f"{hook.name}: {hook.returns}"
    return f"{hook.name}({', '.join(hook.arguments)}) -> {hook.returns}"


def describe():
    """The contract as text, one hook a line (for docs and errors)."""
    return "\n".join(
        _describe(hook) + ("" if hook.required else "  (optional)") for hook in HOOKS
    )
