"""The package version, in the bottom layer so that any module may read it without a cycle."""

__version__ = "0.1.0"
