"""`RunBackup`, the backup of `rnnkit train --run-id`, on a tiny model in one
process: what a crash at each point of an epoch's end leaves, and what the
resumed training makes of it. (Two workers that resume apart: see
`distribute/test_multi_worker.py`.)"""

import json

import keras
import numpy as np
import pytest

from rnnkit.templates import backups
from rnnkit.templates.errors import CorruptError

X = np.linspace(-1, 1, 32, dtype="float32").reshape(16, 2)
Y = X.sum(axis=1, keepdims=True)


def model():
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    net.compile(keras.optimizers.Adam(0.01), "mse")
    return net


class Crashed(Exception):
    pass


class Crash(keras.callbacks.Callback):
    """Stops training as a crash would, at the end of epoch `at`."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise Crashed


class Begun(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def fit(net, run, epochs, *more):
    run.mkdir(parents=True, exist_ok=True)
    backup = backups.RunBackup(
        run / "backup",
        keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
    )
    net.fit(X, Y, epochs=epochs, callbacks=[backup, *more], verbose=0)


def logged(run):
    rows = (run / "history.csv").read_text().splitlines()[1:]
    return [int(row.split(",")[0]) for row in rows]


def interrupted(run, at):
    with pytest.raises(Crashed):
        fit(model(), run, 5, Crash(at))


def test_keeps_the_last_two_backups_and_resumes_from_the_last(tmp_path):
    interrupted(tmp_path, at=2)
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == [
        "epoch-2.weights.h5",
        "epoch-3.weights.h5",
    ]
    begun = Begun()
    fit(model(), tmp_path, 5, begun)
    assert begun.epochs == [3, 4]
    assert logged(tmp_path) == [0, 1, 2, 3, 4]
    assert not (tmp_path / "backup").exists()  # gone once training ends


def test_resumes_where_an_uninterrupted_training_would_be(tmp_path):
    whole = model()
    fit(whole, tmp_path / "whole", 5)
    interrupted(tmp_path / "resumed", at=1)
    resumed = model()
    fit(resumed, tmp_path / "resumed", 5)
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The optimizer's moments came back too, not only the weights.
    for a, b in zip(whole.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_crash_while_saving_leaves_the_last_whole_backup(tmp_path):
    interrupted(tmp_path, at=1)
    # A crash while epoch 3's backup was written: the file is cut short and
    # was never renamed; the log already had the epoch's row.
    (tmp_path / "backup" / "partial-epoch-3.weights.h5").write_bytes(b"\x89HDF")
    with open(tmp_path / "history.csv", "a") as log:
        log.write("2,0.5\n")
    begun = Begun()
    with pytest.raises(Crashed):  # interrupted again at once
        fit(model(), tmp_path, 4, begun, Crash(2))
    assert begun.epochs == [2]  # the cut-short backup is ignored
    assert logged(tmp_path) == [0, 1, 2]  # epoch 2 logged once, anew
    names = sorted(p.name for p in (tmp_path / "backup").iterdir())
    assert names == ["epoch-2.weights.h5", "epoch-3.weights.h5"]


def test_a_log_row_cut_short_is_dropped(tmp_path):
    interrupted(tmp_path, at=1)
    with open(tmp_path / "history.csv", "a") as log:
        log.write("2,0.")  # the crash came mid-row
    fit(model(), tmp_path, 3)
    assert logged(tmp_path) == [0, 1, 2]


def test_a_damaged_backup_is_one_error_naming_it(tmp_path):
    interrupted(tmp_path, at=1)
    damaged = tmp_path / "backup" / "epoch-2.weights.h5"
    damaged.write_bytes(damaged.read_bytes()[:100])
    with pytest.raises(CorruptError, match="the run's backup .*epoch-2.weights.h5"):
        fit(model(), tmp_path, 3)


def test_a_backup_of_keras_backup_and_restore_resumes(tmp_path):
    """A run interrupted under an older rnnkit, which used Keras's callback."""
    with pytest.raises(Crashed):
        model().fit(
            X,
            Y,
            epochs=5,
            callbacks=[
                keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
                keras.callbacks.CSVLogger(str(tmp_path / "history.csv")),
                Crash(1),
            ],
            verbose=0,
        )
    metadata = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 2
    begun = Begun()
    fit(model(), tmp_path, 4, begun)
    assert begun.epochs == [2, 3]
    assert logged(tmp_path) == [0, 1, 2, 3]


def test_drop_rows_from_keeps_the_header_and_earlier_epochs(tmp_path):
    log = tmp_path / "history.csv"
    log.write_text("epoch,loss\n0,1.0\n1,0.8\n2,0.7\n")
    backups.drop_rows_from(log, 2)
    assert log.read_text() == "epoch,loss\n0,1.0\n1,0.8\n"
    backups.drop_rows_from(log, 0)
    assert log.read_text() == "epoch,loss\n"
