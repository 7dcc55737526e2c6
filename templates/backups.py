"""The backup that lets an interrupted `rnnkit train --run-id` resume.

`keras.callbacks.BackupAndRestore` keeps one backup and writes it in two
steps (weights, then the epoch), and under `--strategy multi-worker` each
worker keeps its own. A worker killed at the end of an epoch can then hold
the backup of an epoch the others have moved past, and the resumed workers
start at different epochs: their collectives no longer pair up, and the run
fails again (or, worse, trains on with weights that differ per worker).

`RunBackup` instead:

- writes each epoch's backup to a file named by the epoch, completed by an
  atomic rename, so a backup is either whole or absent;
- logs the epoch's row in `history.csv` before its backup, and on resume
  drops the rows past the backup's epoch, so the log holds each epoch once;
- keeps the last two backups. A worker cannot finish epoch n + 1 before
  every worker has written backup n (its steps' collectives wait for them
  all), so the workers' latest backups are at most one epoch apart, and the
  epoch every worker has is among each worker's last two;
- on resume, agrees with the other workers (one all-reduce) on the latest
  epoch that every worker has, and restores that one.
"""

import json
import os
import pathlib
import re
import shutil

import keras

from rnnkit.templates.errors import CorruptError

BACKUP_FILE = re.compile(r"epoch-(\d+)\.weights\.h5")
# What keras.callbacks.BackupAndRestore wrote (rnnkit before RunBackup): a
# run interrupted under an older rnnkit resumes from it.
KERAS_WEIGHTS, KERAS_EPOCH = "latest.weights.h5", "training_metadata.json"
KEPT = 2


class RunBackup(keras.callbacks.Callback):
    """Backs up the training at the end of every epoch, after logging the
    epoch to the run's CSV log, and resumes from the backup.

    Args:
        folder: The backup folder (`<run>/backup`); deleted once training
            ends.
        history: The run's `history.csv`, written by a
            `keras.callbacks.CSVLogger` in append mode, which this callback
            drives (pass it here, not to `fit`).
    """

    def __init__(self, folder, history):
        super().__init__()
        self.folder = pathlib.Path(folder)
        self.history = history
        self.epoch = 0

    def set_model(self, model):
        super().set_model(model)
        self.history.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.history.set_params(params)

    def on_train_begin(self, logs=None):
        saved = finished_epochs(self.folder)
        self.epoch = agreed_epoch(saved)
        drop_rows_from(pathlib.Path(self.history.filename), self.epoch)
        if self.epoch:
            self._restore(saved[self.epoch])
        self.history.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.history.on_epoch_end(epoch, logs)
        self.epoch = epoch + 1
        self._save()

    def on_train_end(self, logs=None):
        self.history.on_train_end(logs)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _save(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        # save_weights insists on the `.weights.h5` ending.
        partial = self.folder / f"partial-epoch-{self.epoch}.weights.h5"
        self.model.save_weights(partial, overwrite=True)
        os.replace(partial, self.folder / f"epoch-{self.epoch}.weights.h5")
        for epoch, path in finished_epochs(self.folder).items():
            if epoch <= self.epoch - KEPT:
                path.unlink(missing_ok=True)
        for cut_short in self.folder.glob("partial-epoch-*.weights.h5"):
            cut_short.unlink(missing_ok=True)  # by a crash while saving
        for old in (KERAS_WEIGHTS, KERAS_EPOCH):
            (self.folder / old).unlink(missing_ok=True)

    def _restore(self, path):
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(path)
        except (OSError, ValueError) as error:
            raise CorruptError(
                f"the run's backup {path} cannot be read ({error}); delete "
                f"{self.folder} to train the run again from its first epoch"
            ) from None
        self.model._initial_epoch = self.epoch


def finished_epochs(folder):
    """`{epoch: backup file}` of the whole backups in `folder`, where
    `epoch` counts the epochs finished."""
    folder = pathlib.Path(folder)
    saved = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = BACKUP_FILE.fullmatch(path.name)
            if match:
                saved[int(match.group(1))] = path
    keras_epoch = folder / KERAS_EPOCH
    if keras_epoch.is_file() and (folder / KERAS_WEIGHTS).is_file():
        try:
            epoch = json.loads(keras_epoch.read_text())["epoch"]
        except (ValueError, KeyError, TypeError) as error:
            raise CorruptError(
                f"the run's backup {keras_epoch} cannot be read ({error!r}); "
                f"delete {folder} to train the run again from its first epoch"
            ) from None
        saved.setdefault(int(epoch), folder / KERAS_WEIGHTS)
    return saved


def agreed_epoch(saved):
    """The latest of `saved`'s epochs that every worker of a multi-worker
    run has saved too (0, a fresh start, if none); the latest of `saved`
    without one."""
    import tensorflow as tf

    latest = sorted(saved)[-KEPT:]
    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return latest[-1] if latest else 0
    everyone = _gathered(strategy, latest)
    common = set.intersection(*everyone)
    return max(common, default=0)


def _gathered(strategy, latest):
    """Each replica's `latest` epochs (up to `KEPT`), as sets: one all-reduce
    in which each replica fills its own row of a table of zeros."""
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    padded = [*latest, *[0] * (KEPT - len(latest))]

    def own_row():
        context = tf.distribute.get_replica_context()
        row = tf.one_hot(context.replica_id_in_sync_group, replicas, dtype=tf.float64)
        table = row[:, None] * tf.constant(padded, tf.float64)[None, :]
        return context.all_reduce(tf.distribute.ReduceOp.SUM, table)

    # Eagerly, TensorFlow warns that the collective is slow; in a function
    # it is not.
    gathered = tf.function(lambda: strategy.run(own_row))()
    table = strategy.experimental_local_results(gathered)[0]
    return [{int(e) for e in row if e > 0} for row in table.numpy()]


def drop_rows_from(csv_path, epoch):
    """Drops the rows of epochs `epoch` and later (and a last row cut short)
    from a run's CSV log: the resumed training logs them again."""
    if not csv_path.is_file():
        return
    lines = csv_path.read_text().splitlines(keepends=True)
    kept = lines[:1] + [
        line for line in lines[1:] if line.endswith("\n") and _epoch_of(line) < epoch
    ]
    if kept != lines:
        partial = csv_path.with_name(csv_path.name + ".partial")
        partial.write_text("".join(kept))
        os.replace(partial, csv_path)


def _epoch_of(line):
    try:
        return int(line.split(",", 1)[0])
    except ValueError:  # not a row of an epoch: dropped
        return float("inf")
