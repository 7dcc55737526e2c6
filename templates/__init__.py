"""Task templates (classification, translation, generation), the contract a
task's `task.py` keeps (`contract`), and the text, data, decoding, export
and inference machinery the templates share."""
