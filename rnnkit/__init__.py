"""rnnkit: recurrent networks for Keras 3 and TensorFlow.

The Elman RNN, GRU and LSTM as drop-in, faster Keras layers (`rnnkit.layers`),
task templates (`rnnkit.templates`), cell-type tuning (`rnnkit.tuning`) and
SavedModel export.
"""

import importlib

__version__ = "0.1.0"

# Re-exported from rnnkit.layers on first use, so that `import rnnkit` (and
# `rnnkit --version`) does not pay for importing TensorFlow.
_LAYER_EXPORTS = (
    "CELL_TYPES",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "SimpleRNN",
    "SimpleRNNCell",
    "get_cell",
    "get_layer",
)

__all__ = ["__version__", *_LAYER_EXPORTS]


def __getattr__(name):
    if name in _LAYER_EXPORTS:
        return getattr(importlib.import_module("rnnkit.layers"), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
