"""Trains a task twice in one process whose CPU is split into two logical
devices: with the default strategy, then with `MirroredStrategy` over both
devices. Prints, as JSON, how far apart the two models' weights end up and
how far training moved them.

    python mirror_equality.py TASK_FOLDER SETTINGS_JSON
"""

import json
import pathlib
import sys
import tempfile

from split_cpu import split_cpu

REPLICAS = 2


def trained_weights(task, overrides, placement, run_dir):
    """The weights after `fit` on the task's training data; the initial
    weights too."""
    import keras

    from rnnkit.templates import training, workflow

    config = task.config(overrides)
    keras.utils.set_random_seed(config["seed"])
    data = task.module.read_data(config, task.folder)
    with placement.scope():
        model = workflow.built_model(task, config, data, placement.strategy)
        initial = model.get_weights()
        train, validation = task.module.datasets(config, data)
        training.fit(
            model,
            train,
            validation,
            config,
            run_dir,
            task.module.MONITOR,
            task.module.MONITOR_MODE,
            verbose=0,
            strategy=placement.strategy,
        )
    return initial, model.get_weights()


def main(folder, overrides):
    import numpy as np

    from rnnkit.templates import distribute, tasks

    task = tasks.locate(folder)
    mirrored = distribute.start("mirrored")
    scratch = pathlib.Path(tempfile.mkdtemp())
    initial, alone = trained_weights(
        task, overrides, distribute.Placement(), scratch / "default"
    )
    _, mirrored_weights = trained_weights(task, overrides, mirrored, scratch / "mirror")

    def largest(pairs):
        return max(float(np.max(np.abs(a - b))) for a, b in pairs)

    return {
        "replicas": mirrored.strategy.num_replicas_in_sync,
        "weights": len(alone),
        "difference": largest(zip(alone, mirrored_weights)),
        "moved": largest(zip(alone, initial)),
    }


if __name__ == "__main__":
    split_cpu(REPLICAS)
    print(json.dumps(main(sys.argv[1], json.loads(sys.argv[2]))))
