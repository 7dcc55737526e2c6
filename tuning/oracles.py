"""The oracles of `rnnkit tune`: which hyperparameters each trial tries.

Keras Tuner's random and Bayesian oracles, whose first trials are the
config's own model once for each cell type (`DefaultsFirst`), and the
"local" oracle, which then spends its trials near the best one so far.
"""

import random

import keras_tuner
from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed, Int
from keras_tuner.engine.trial import TrialStatus
from keras_tuner.oracles import BayesianOptimizationOracle, RandomSearchOracle


def default_values(space, **fixed):
    """The default of every hyperparameter active under the defaults, with
    the values in `fixed` (a cell type, say) in place of their defaults."""
    chosen = keras_tuner.HyperParameters()
    for hp in space.space:
        chosen.merge([hp])
        if chosen.is_active(hp):
            chosen.values[hp.name] = fixed.get(hp.name, hp.default)
    return {k: v for k, v in chosen.values.items() if chosen.is_active(k)}


# Asks `get_best_trials` for every trial; an int32, as the chief oracle of a
# distributed search receives it over gRPC.
EVERY_TRIAL = 2**31 - 1


def best_trials(oracle, count=1):
    """The best completed trials. Keras Tuner's `get_best_trials` pads its
    answer with unfinished and failed trials; those never count here."""
    ranked = oracle.get_best_trials(EVERY_TRIAL)
    return [t for t in ranked if t.status == TrialStatus.COMPLETED][:count]


class DefaultsFirst:
    """An oracle whose first trials are the defaults, once for each cell
    type, the config's own cell first: the first trial is the model that
    `rnnkit train` builds, so the leaderboard shows what the search gained
    over it, and every cell is tried early and on equal terms, so the search
    answers "LSTM or GRU?" whatever it draws later."""

    def populate_space(self, trial_id):
        cells = self._cells_in_order()
        if len(self.trials) < len(cells):
            fixed = {"cell": cells[len(self.trials)]} if cells else {}
            return {
                "status": TrialStatus.RUNNING,
                "values": default_values(self.hyperparameters, **fixed),
            }
        return super().populate_space(trial_id)

    def _cells_in_order(self):
        # A space with no cell choice still starts with its defaults.
        found = [hp for hp in self.hyperparameters.space if hp.name == "cell"]
        if not found:
            return [None]
        default, choices = found[0].default, found[0].values
        return [default, *(c for c in choices if c != default)]


class RandomOracle(DefaultsFirst, RandomSearchOracle):
    pass


class BayesianOracle(DefaultsFirst, BayesianOptimizationOracle):
    pass


class NeighbourOracle(RandomSearchOracle):
    """A local search: every trial is the best completed trial so far (the
    defaults, before any has finished) with one or two of its
    hyperparameters moved one step on their own scale.

    A step doubles or halves a log-scaled number (units, the learning rate),
    adds or takes one `step` from a linear one (layers, dropout; a tenth of
    the range where it has no step), and picks another value of a choice.
    On a budget of ten trials or so, draws from the whole space mostly land
    where a model learns less than with the defaults: in a 10-trial random
    search of the classification template, the default itself stayed best.
    Small moves keep what already works and try its neighbours, and a
    better trial becomes the next centre. A hyperparameter that only a
    newly chosen cell type has starts at its default, so that a changed
    cell is compared on equal terms. Once every neighbour of the best trial
    has been tried, trials are drawn from the whole space.

    The first moves from every centre are the steps of the hyperparameters
    in `FIRST`, one at a time, up before down; the others move at random.
    """

    # The learning rate matters most: in Greff et al., "LSTM: A Search
    # Space Odyssey" (2017), it explained most of the variance of LSTM
    # results on each of their tasks, far ahead of the network's size.
    # (On the classification template's data, one setting at a time, only
    # doubling it beat the default.)
    FIRST = ("learning_rate",)

    def populate_space(self, trial_id):
        best = best_trials(self)
        centre = (
            best[0].hyperparameters.values
            if best
            else default_values(self.hyperparameters)  # none has finished yet
        )
        for values in self._first_moves(centre):
            if not self._duplicate(values):
                return {"status": TrialStatus.RUNNING, "values": values}
        for _ in range(self._max_collisions):
            values = self._neighbour(centre)
            if not self._duplicate(values):
                return {"status": TrialStatus.RUNNING, "values": values}
        # The best trial's neighbours are all tried: draw from the whole
        # space (which stops the search once that is used up too).
        return super().populate_space(trial_id)

    def _first_moves(self, centre):
        for hp in self.hyperparameters.space:
            if hp.name in self.FIRST and hp.name in centre:
                for value in steps(hp, centre[hp.name]):
                    yield self._moved(centre, {hp.name: value})

    def _neighbour(self, centre):
        """`centre` with one or two of its hyperparameters moved."""
        rng = self._next_random()
        free = [
            hp.name
            for hp in self.hyperparameters.space
            if hp.name in centre and not isinstance(hp, Fixed)
        ]
        moved = rng.sample(free, min(rng.choice((1, 2)), len(free)))
        by_name = {hp.name: hp for hp in self.hyperparameters.space}
        return self._moved(
            centre, {name: one_step(by_name[name], centre[name], rng) for name in moved}
        )

    def _moved(self, centre, moves):
        """`centre` with the values of `moves`, and every hyperparameter
        that becomes active (a new cell's own options) at its default."""
        return default_values(self.hyperparameters, **{**centre, **moves})

    def _next_random(self):
        # Keras Tuner saves `_seed_state` with the oracle, so a resumed
        # search draws what the uninterrupted one would have. (It starts at
        # the seed, so seeds 1 and 2 would share all but one draw without
        # the seed beside it.)
        rng = random.Random(f"{self.seed} {self._seed_state}")
        self._seed_state += 1
        return rng


class LocalOracle(DefaultsFirst, NeighbourOracle):
    """The templates' default: the defaults with each cell type, then the
    neighbours of the best trial (`NeighbourOracle`)."""


def one_step(hp, value, rng):
    """A neighbour of `value` on `hp`'s scale, inside its range (`value`
    itself where the range holds nothing else)."""
    neighbours = steps(hp, value)
    return rng.choice(neighbours) if neighbours else value


def steps(hp, value):
    """The values one step from `value` on `hp`'s scale and inside its
    range, the step up first."""
    if isinstance(hp, Boolean):
        return [not value]
    if isinstance(hp, Choice):
        return [v for v in hp.values if v != value]
    if hp.sampling == "log":
        factor = hp.step if hp.step and hp.step > 1 else 2
        candidates = [value * factor, value / factor]
    else:
        step = hp.step or (hp.max_value - hp.min_value) / 10
        candidates = [value + step, value - step]
    kind = int if isinstance(hp, Int) else float
    return [
        kind(round(c, 10))  # 0.3 + 0.1 is 0.4, not 0.4000000000000001
        for c in candidates
        if hp.min_value - 1e-12 <= c <= hp.max_value + 1e-12
    ]
