"""Cells and layers by kind name, for the templates and the tuner."""

from rnnkit.layers.gru import GRU
from rnnkit.layers.gru_cell import GRUCell
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.lstm_cell import LSTMCell
from rnnkit.layers.simple_rnn import SimpleRNN
from rnnkit.layers.simple_rnn_cell import SimpleRNNCell

CELL_TYPES = ("rnn", "gru", "lstm")

_CELLS = {"rnn": SimpleRNNCell, "gru": GRUCell, "lstm": LSTMCell}
_LAYERS = {"rnn": SimpleRNN, "gru": GRU, "lstm": LSTM}


def _lookup(table, kind):
    if kind not in table:
        raise ValueError(
            f"Unknown cell kind. Expected one of {CELL_TYPES}. Received: kind={kind!r}"
        )
    return table[kind]


def get_cell(kind, units, **kwargs):
    """Returns a new cell of `kind` ("rnn", "gru" or "lstm") with `units`.

    Example:

    >>> get_cell("gru", 8).units
    8
    """
    return _lookup(_CELLS, kind)(units, **kwargs)


def get_layer(kind, units, **kwargs):
    """Returns a new sequence layer of `kind` ("rnn", "gru" or "lstm").

    Example:

    >>> get_layer("lstm", 8, return_sequences=True).return_sequences
    True
    """
    return _lookup(_LAYERS, kind)(units, **kwargs)
