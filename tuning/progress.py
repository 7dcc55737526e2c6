"""One line per finished trial: its number, active hyperparameters, score,
the best score so far, the time spent and an estimate of the time left."""

import time

from keras_tuner.engine.trial import TrialStatus

from rnnkit.tuning.oracles import EVERY_TRIAL

FINISHED = (TrialStatus.COMPLETED, TrialStatus.FAILED)


def format_value(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def describe(values):
    """`cell=gru units=64 ...`: a trial's own hyperparameters, without the
    bookkeeping entries Hyperband adds (`tuner/epochs` and so on)."""
    return " ".join(
        f"{k}={format_value(v)}"
        for k, v in values.items()
        if not k.startswith("tuner/")
    )


def last_error(trial):
    """The last line of a failed trial's traceback, without the class name."""
    lines = [line for line in (trial.message or "").strip().splitlines() if line]
    if not lines:
        return "unknown error"
    head, sep, tail = lines[-1].partition(": ")
    return tail if sep and "Error" in head else lines[-1]


def score(oracle, trial, record):
    """The trial's score. A distributed worker's copy of the trial has none
    (the chief scores it), so it is worked out from the record as Keras
    Tuner does: the mean over executions of the best epoch's objective."""
    if trial.score is not None:
        return trial.score
    objective = oracle.objective
    pick = max if objective.direction == "max" else min
    bests = [pick(h[objective.name]) for h in record["histories"]]
    return sum(bests) / len(bests)


def duration(seconds):
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    """Prints a line per trial to `out`.

    The trials done and the time left count every process's trials: in a
    distributed search, the oracle is the chief's and knows them all.

    Args:
        total: the number of trials the search will run, or `None` if unknown.
        objective: the objective's name, e.g. `val_accuracy`.
        already_done: trials finished before this process started.
        print_fn: where lines go.
    """

    def __init__(self, total, objective, already_done=0, print_fn=print):
        self.total = total
        self.objective = objective
        self.already_done = self.done = already_done
        self.started = time.monotonic()
        self.finished_here = 0
        self.print = print_fn

    def trial_ended(self, oracle, trial, record):
        self.finished_here += 1
        trials = oracle.get_best_trials(EVERY_TRIAL)  # every trial, best first
        self.done = sum(t.status in FINISHED for t in trials)
        number = int(trial.trial_id) + 1
        of = f"/{self.total}" if self.total else ""
        if trial.status == TrialStatus.COMPLETED:
            outcome = f"{self.objective} {score(oracle, trial, record):.4f}"
        else:
            outcome = f"failed: {last_error(trial)}"
        best = [t for t in trials if t.status == TrialStatus.COMPLETED]
        best_text = f"best {best[0].score:.4f}" if best else "best -"
        elapsed = time.monotonic() - self.started
        timing = f"{duration(elapsed)} elapsed"
        if self.total:
            left = max(self.total - self.done, 0)
            rate = elapsed / max(self.done - self.already_done, 1)
            timing += f", ~{duration(rate * left)} left"
        self.print(
            f"trial {number}{of}  {describe(trial.hyperparameters.values)}  "
            f"{outcome}  {best_text}  {timing}"
        )
