"""gpu-advisor: an explaining expert system that recommends GPUs and AI appliances."""

from gpu_advisor.version import __version__

__all__ = ["__version__"]
