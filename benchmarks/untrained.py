"""A template's model, untrained, exported: what the speed benchmarks time
(speed does not depend on the weights)."""

import dataclasses

from rnnkit.templates import export, tasks


@dataclasses.dataclass
class Exported:
    """A built-in template's untrained model and its export.

    Args:
        module: The template's task module.
        model: The Keras model.
        meta: The export's metadata (its `hyperparameters` are the config).
        data: The template's bundled data, as its `read_data` reads it.
        path: The export's version folder.
    """

    module: object
    model: object
    meta: dict
    data: object
    path: object


def add_set_option(parser, kind, example):
    """`--set KEY=VALUE` (repeatable): a change to `kind`'s config."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a {kind} config key, e.g. {example}",
    )


def set_overrides(args):
    """The `--set` assignments as config overrides."""
    from rnnkit.templates import config

    return config.parse_assignments(args.set)


def untrained_export(kind, overrides, folder):
    """Builds `kind`'s model from its config with `overrides` on its bundled
    data, and exports it as version 1 under `folder`."""
    task = tasks.locate(kind)
    config = task.config(overrides)
    data = task.module.read_data(config, task.folder)
    model = task.module.build_model(config, data)
    meta = {
        "task": kind,
        **task.module.metadata(config, data, model),
        "hyperparameters": config,
    }
    path = export.write(task.module.serving(model, meta), meta, folder, version=1)
    return Exported(task.module, model, meta, data, path)
