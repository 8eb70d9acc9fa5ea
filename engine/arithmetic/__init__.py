"""arithmetic layer."""
