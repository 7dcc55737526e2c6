"""Training shared by the templates: optimiser, callbacks and the fit loop.

Defaults follow the lecture notes' warnings about gradients: the optimiser
clips gradients by norm, and a loss that becomes NaN or infinite stops
training with an error that names exploding gradients and the remedies.
"""

import contextlib
import csv
import math
import warnings

import keras

from rnnkit.templates import backups, distribute, streaming
from rnnkit.templates.errors import TrainingDiverged

HISTORY_CSV = "history.csv"


def optimizer(config):
    """Adam with `learning_rate` and gradient clipping by `clipnorm`."""
    clipnorm = config["clipnorm"] or None  # 0 turns clipping off
    return keras.optimizers.Adam(config["learning_rate"], clipnorm=clipnorm)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss and remembers where."""

    def __init__(self):
        super().__init__()
        self.where = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = (self.epoch, batch, float(loss))
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


def callbacks(config, run_dir, monitor, mode):
    return [
        keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode=mode,
            patience=config["patience"],
            restore_best_weights=True,
        ),
        # Resumes an interrupted run at the epoch it reached; the CSV log is
        # appended to, so it holds every epoch across interruptions.
        backups.RunBackup(
            run_dir / "backup",
            keras.callbacks.CSVLogger(str(run_dir / HISTORY_CSV), append=True),
        ),
        keras.callbacks.TensorBoard(str(run_dir / "logs")),
    ]


def read_history(run_dir):
    """Every epoch's logs, `{name: [value per epoch]}`, from the CSV log."""
    with open(run_dir / HISTORY_CSV, newline="") as file:
        rows = list(csv.DictReader(file))
    names = [name for name in rows[0] if name != "epoch"] if rows else []
    return {name: [float(row[name]) for row in rows] for name in names}


def diverged(config, where):
    """The error for a loss that became NaN or infinite at `where`, a
    `StopOnNonFiniteLoss.where`: it names exploding gradients and remedies."""
    epoch, batch, loss = where
    rate, clipnorm = config["learning_rate"], config["clipnorm"]
    clipping = (
        f"clip harder with a smaller clipnorm (now {clipnorm})"
        if clipnorm
        else "turn gradient clipping on (--set clipnorm=1.0)"
    )
    return TrainingDiverged(
        f"the loss became {loss} at epoch {epoch + 1}, batch {batch + 1}: "
        f"exploding gradients. Lower learning_rate (now {rate:g}, e.g. --set "
        f"learning_rate={rate / 10:g}) or {clipping}"
    )


def without_autotuning(dataset):
    """`dataset` with tf.data's autotuning off.

    On 2 cores autotuning slowed whole epochs: about half of them ran as
    if the training step had one core instead of two, whatever the model
    (the LSTM layers' benchmark: 39 ms a batch in those epochs, 24-28 ms in
    the others, for rnnkit's and Keras's layers alike; the classification
    template's 40 steps: 1.26 s against 1.08 s, medians). Without it,
    every epoch ran at the faster speed. Parallel maps and prefetches
    asked for with `tf.data.AUTOTUNE` still run in parallel, at a fixed
    parallelism of min(16, cores).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


@contextlib.contextmanager
def datasets_of_unknown_length():
    """A dataset whose length TensorFlow cannot know in advance (translation's
    batches of like length) ends each epoch by running out of data, as it
    should; Keras warns about that every epoch, which is noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Your input ran out of data")
        yield


def fit(
    model,
    train,
    validation,
    config,
    run_dir,
    monitor,
    mode,
    verbose="auto",
    extra=(),
    strategy=None,
):
    """Trains `model`; returns the history of all epochs, resumed ones too.

    With a `tf.distribute` `strategy` (the one `model` was built under), call
    it inside `strategy.scope()`; see `rnnkit.templates.distribute`."""
    guard = StopOnNonFiniteLoss()
    train, validation = without_autotuning(train), without_autotuning(validation)
    if strategy is not None:
        train = distribute.shared_out(train)
        validation = distribute.shared_out(validation)
        distribute.adapt(model, train, strategy)
    with datasets_of_unknown_length(), streaming.pipeline_errors():
        model.fit(
            train,
            validation_data=validation,
            epochs=config["epochs"],
            callbacks=[guard, *callbacks(config, run_dir, monitor, mode), *extra],
            shuffle=False,  # the datasets shuffle themselves, with the seed
            verbose=verbose,
        )
    if guard.where is not None:
        raise diverged(config, guard.where)
    return read_history(run_dir)
