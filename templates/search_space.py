"""The hyperparameters every recurrent template searches, for `rnnkit tune`.

Each default is the task's config, so a search starts from what training
uses. Hyperparameters that only one cell type has (GRU's `reset_after`,
LSTM's `unit_forget_bias`) sit in a conditional scope: active, and shown in
trial summaries, only when that cell type is chosen.
"""

from rnnkit.layers import CELL_TYPES


def recurrent(hp, config, units=(16, 256)):
    """Cell type, size, depth, embedding size, dropout and learning rate."""
    cell = hp.Choice("cell", list(CELL_TYPES), default=config["cell"])
    chosen = {
        "cell": cell,
        "units": hp.Int("units", *units, sampling="log", default=config["units"]),
        "layers": hp.Int("layers", 1, 3, default=config["layers"]),
        "embedding_dim": hp.Int(
            "embedding_dim", 8, 256, sampling="log", default=config["embedding_dim"]
        ),
        "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1, default=config["dropout"]),
        "learning_rate": hp.Float(
            "learning_rate", 1e-4, 1e-2, sampling="log", default=config["learning_rate"]
        ),
    }
    with hp.conditional_scope("cell", ["gru"]):
        if cell == "gru":
            chosen["reset_after"] = hp.Boolean("reset_after", default=True)
    with hp.conditional_scope("cell", ["lstm"]):
        if cell == "lstm":
            chosen["unit_forget_bias"] = hp.Boolean("unit_forget_bias", default=True)
    return chosen
