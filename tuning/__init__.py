"""Keras Tuner search over cell type and size (`rnnkit tune`), and the fair
comparison of the cell types (`rnnkit compare`).

The search space of each template is its `hyperparameters(hp, config)`, with
ranges from the `[search]` table of its `config.toml`.
"""
