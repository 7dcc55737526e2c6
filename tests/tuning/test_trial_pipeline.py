"""A tuning trial trains on its datasets with tf.data's autotuning off, as
`rnnkit train` does (`rnnkit.templates.training.without_autotuning`)."""

import keras_tuner
import tiny_tasks

from rnnkit.templates import tasks
from rnnkit.tuning.hypermodel import TaskHyperModel


def test_a_tuning_trial_trains_with_autotuning_off(tmp_path, monkeypatch):
    folder = tiny_tasks.make("classification", tmp_path)
    task = tasks.locate(folder)
    config = task.config()
    hypermodel = TaskHyperModel(task, config, task.module.read_data(config, folder))
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    seen = []
    fit = model.fit

    def recording_fit(x=None, *args, validation_data=None, **kwargs):
        seen.extend(d.options().autotune.enabled for d in (x, validation_data))
        return fit(x, *args, validation_data=validation_data, **kwargs)

    monkeypatch.setattr(model, "fit", recording_fit)
    hypermodel.fit(hp, model, epochs=1)
    assert seen == [False, False]
    assert len(hypermodel.executions) == 1
