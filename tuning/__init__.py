"""Keras Tuner search over cell type and size, and the comparison report.
The tuning machinery lands with a later issue."""
