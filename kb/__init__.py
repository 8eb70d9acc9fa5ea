"""Shipped knowledge base (YAML); a package only so that they install with the code."""
