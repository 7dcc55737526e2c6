"""What the gated cells (GRU, LSTM) add to `RecurrentCell`.

Gates are sigmoid valves in [0, 1] on the state update. Because they multiply
the gradient flowing back through time instead of a fixed `W_xx`, the network
can learn to keep that gradient from vanishing.
"""

from keras import activations, ops

from rnnkit.layers.base_cell import RecurrentCell, get_activation, layer_normalize


class GatedCell(RecurrentCell):
    """Base class of `GRUCell` and `LSTMCell`; see those for the arguments."""

    # With the batch size unknown when traced, a single row's steps would
    # go gate by gate in 4 chunks, several ops each on a row of numbers; a
    # branch of their own, traced as one row, runs them as a known batch of
    # one does. A traced call with a `None` batch axis ran 1.17-1.20x as
    # fast at B=1, H=128 for the GRU and 1.23-1.45x for the LSTM (2 AMD
    # EPYC cores, AVX-512); at 8, 32 and 64 rows within 1.00-1.06x. A
    # GRU model took 0.1 s longer to trace. SimpleRNN's single row gained
    # nothing from it (0.99-1.07x).
    single_row_branch = True

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        layer_norm=False,
        implementation=2,
        **kwargs,
    ):
        recurrent_activation = get_activation(
            "recurrent_activation", recurrent_activation
        )
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = recurrent_activation
        self.layer_norm = bool(layer_norm)
        # Kept as given, as Keras keeps it: only 1 (per-gate dropout masks)
        # differs, so the legacy 0 of old saved configs runs as 2. Keras
        # switches to per-gate masks when recurrent dropout is on.
        self.implementation = 1 if self.recurrent_dropout else implementation

    @property
    def dropout_mask_count(self):
        return len(self.gates) if self.implementation == 1 else 1

    def build_extras(self):
        if not self.layer_norm:
            return
        width = self.units * len(self.gates)
        # Layer normalisation (Ba et al., 2016) of each gate's input and
        # recurrent terms. Their shift is the existing bias, so only gains here.
        self.input_norm_gamma = self.add_weight(
            shape=(width,), name="input_norm_gamma", initializer="ones"
        )
        self.recurrent_norm_gamma = self.add_weight(
            shape=(width,), name="recurrent_norm_gamma", initializer="ones"
        )

    def normalize_gates(self, x, gamma):
        """Layer-normalises each `units`-wide gate block of `x` separately."""
        blocks = x.shape[-1] // self.units
        shape = ops.shape(x)
        x = ops.reshape(x, (*shape[:-1], blocks, self.units))
        x = layer_normalize(x, ops.reshape(gamma, (blocks, self.units)))
        return ops.reshape(x, shape)

    @property
    def normalizes_inputs(self):
        return self.layer_norm

    def normalize_inputs(self, projected):
        if not self.layer_norm:
            return projected
        return self.normalize_gates(projected, self.input_norm_gamma)

    def normalize_recurrent(self, projected, first_gate=0):
        """Normalises recurrent terms of the gates from `first_gate` on."""
        if not self.layer_norm:
            return projected
        width = projected.shape[-1]
        start = first_gate * self.units
        return self.normalize_gates(
            projected, self.recurrent_norm_gamma[start : start + width]
        )

    def fusable(self):
        return (
            self.activation is activations.tanh
            and self.recurrent_activation is activations.sigmoid
            and not self.layer_norm
            and not self.recurrent_dropout
        )

    def get_config(self):
        config = {
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "layer_norm": self.layer_norm,
            "implementation": self.implementation,
        }
        return {**super().get_config(), **config}
