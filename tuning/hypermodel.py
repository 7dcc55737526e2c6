"""A template's model as a Keras Tuner hypermodel."""

import time
import warnings

import keras
import keras_tuner

from rnnkit.templates import training


class TaskHyperModel(keras_tuner.HyperModel):
    """Builds and trains a template's model for Keras Tuner.

    The search space is the task's `hyperparameters(hp, config)`, whose
    ranges come from the `[search]` table of its `config.toml` and whose
    defaults are the config's settings. The data is read once and shared by
    every trial; each trial cuts its own batches, since `batch_size` and the
    tokenisation stay fixed while the model changes.

    A trial whose loss turns NaN, or that runs out of memory, raises
    `keras_tuner.errors.FailedTrialError`: Keras Tuner marks it failed and
    never retries it or picks it as the best.

    Args:
        task: a `rnnkit.templates.tasks.Task`.
        config: the task's resolved config.
        data: what `task.module.read_data` returned for `config`.
    """

    def __init__(self, task, config, data):
        super().__init__(name=task.kind)
        self.task = task
        self.config = config
        self.data = data
        self.execution = 0  # which training of the trial is being built
        self.start_trial()

    def start_trial(self):
        """Forgets the last trial's trainings; the tuner calls it first."""
        self.executions = []  # one record per training of the current trial

    def trial_config(self, hp):
        """The task's config with the trial's hyperparameters in it."""
        chosen = self.task.module.hyperparameters(hp, self.config)
        return self.config.updated(
            {**chosen, "epochs": self.config["search"]["epochs"]}
        )

    def build(self, hp):
        config = self.trial_config(hp)
        # The same trial gets the same weights; each further execution of it
        # gets another seed, or averaging executions would measure nothing.
        keras.utils.set_random_seed(config["seed"] + self.execution)
        return self.task.module.build_model(config, self.data)

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        import tensorflow as tf

        config = self.trial_config(hp)
        train, validation = self.task.module.datasets(config, self.data)
        train = training.without_autotuning(train)
        validation = training.without_autotuning(validation)
        guard = training.StopOnNonFiniteLoss()
        early_stopping = keras.callbacks.EarlyStopping(
            monitor=self.task.module.MONITOR,
            mode=self.task.module.MONITOR_MODE,
            patience=config["patience"],
        )
        kwargs.setdefault("epochs", config["epochs"])
        kwargs.pop("verbose", None)  # Keras Tuner passes the search's own
        started = time.perf_counter()
        try:
            with training.datasets_of_unknown_length():
                history = model.fit(
                    train,
                    validation_data=validation,
                    callbacks=[guard, early_stopping, *callbacks],
                    shuffle=False,  # the datasets shuffle themselves, with the seed
                    verbose=0,
                    **kwargs,
                )
        except tf.errors.ResourceExhaustedError:
            raise keras_tuner.errors.FailedTrialError(
                f"out of memory training a model of {model.count_params():,} "
                "parameters; lower the [search] ranges of units, layers or "
                "embedding_dim, or batch_size"
            ) from None
        self.executions.append(
            {
                "fit_seconds": time.perf_counter() - started,
                "params": model.count_params(),
                "history": {
                    k: [float(v) for v in vs] for k, vs in history.history.items()
                },
            }
        )
        if guard.where is not None:
            raise keras_tuner.errors.FailedTrialError(
                str(training.diverged(config, guard.where))
            )
        return history

    def train_execution(self, request):
        """Builds and trains one execution of a trial, as the worker process
        does (see `rnnkit.tuning.worker`); returns its record.

        `request` holds the trial's hyperparameters (a config), the
        execution's number, the epochs, the checkpoint path with the best
        objective value any earlier execution reached, the TensorBoard log
        folder and, for Hyperband, the checkpoint to start from."""
        from keras_tuner.src.engine import tuner_utils
        from tensorboard.plugins.hparams import api as hparams_api

        keras.backend.clear_session()
        self.start_trial()
        hp = keras_tuner.HyperParameters.from_config(request["hyperparameters"])
        self.execution = request["execution"]
        model = self.build(hp)
        if request["warm_start"]:  # Hyperband: carry on from an earlier trial
            with warnings.catch_warnings():
                # The fresh optimizer has no slots yet; only weights carry on.
                warnings.filterwarnings("ignore", "Skipping variable loading")
                model.load_weights(request["warm_start"])
        objective = keras_tuner.Objective(*request["objective"])
        checkpoint = tuner_utils.SaveBestEpoch(objective, request["checkpoint"])
        checkpoint.best_value = request["best_value"]
        callbacks = [checkpoint]
        if request["log_dir"]:
            callbacks += [
                keras.callbacks.TensorBoard(request["log_dir"]),
                hparams_api.KerasCallback(
                    writer=request["log_dir"],
                    hparams=tuner_utils.convert_hyperparams_to_hparams(hp, hparams_api),
                    trial_id=request["trial_id"],
                ),
            ]
        self.fit(hp, model, callbacks=callbacks, **request["fit"])
        return self.executions[-1]
