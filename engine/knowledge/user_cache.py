"""The user's cache folder for gpu-advisor, one rule for everything cached: the validated rule
base (``knowledge.cache``) and the model configs fetched from the Hub (``knowledge.hub``).

``$GPU_ADVISOR_CACHE_DIR`` if set, else the platform's user cache folder
(``platformdirs.user_cache_dir("gpu-advisor")``: ``$XDG_CACHE_HOME/gpu-advisor`` or
``~/.cache/gpu-advisor`` on Linux). A module of its own so that the Hub fetch need not import
the rule-base cache (and through it the rule base).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where cached files live: ``$GPU_ADVISOR_CACHE_DIR``, else the user's cache folder."""
    explicit = os.environ.get("GPU_ADVISOR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    try:
        from platformdirs import user_cache_dir
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "gpu-advisor"
    return Path(user_cache_dir("gpu-advisor", appauthor=False))
