"""Task templates (classification, translation, generation) and the text,
data and export machinery they share. The templates land with later issues."""
