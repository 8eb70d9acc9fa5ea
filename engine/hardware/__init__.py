"""hardware layer."""
