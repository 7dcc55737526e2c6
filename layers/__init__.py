"""Elman RNN, GRU and LSTM cells and sequence layers, written from scratch.

Drop-in replacements for the `keras.layers` classes of the same names, with a
faster time loop and three additions that are off by default: a learned
initial state `x_0`, layer normalisation, and `gate_activations()`; and
`Bidirectional`, Keras's wrapper telling its two directions that their
loops share the cores.
"""

from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.factory import CELL_TYPES, get_cell, get_layer
from rnnkit.layers.gru import GRU
from rnnkit.layers.gru_cell import GRUCell
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.lstm_cell import LSTMCell
from rnnkit.layers.simple_rnn import SimpleRNN
from rnnkit.layers.simple_rnn_cell import SimpleRNNCell

__all__ = [
    "Bidirectional",
    "CELL_TYPES",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "SimpleRNN",
    "SimpleRNNCell",
    "get_cell",
    "get_layer",
]
