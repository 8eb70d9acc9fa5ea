"""gpu-advisor: an explaining expert system that recommends GPUs and AI appliances."""

__version__ = "0.1.0"
