"""How long the fuzzers run: a bounded campaign by default (the whole tests/fuzz folder stays
well under two minutes in CI), a long one with ``GPU_ADVISOR_FUZZ=long`` in the environment.

    GPU_ADVISOR_FUZZ=long .venv/bin/python -m pytest -q -p no:cacheprovider tests/fuzz

Every fuzzer draws its examples through :func:`fuzz_settings`, so one switch scales them all;
``GPU_ADVISOR_FUZZ_EXAMPLES=N`` sets the long run's multiplier (default 20).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG = os.environ.get("GPU_ADVISOR_FUZZ", "").lower() == "long"
"""Whether the long campaign was asked for."""

_FACTOR = int(os.environ.get("GPU_ADVISOR_FUZZ_EXAMPLES", "20")) if LONG else 1


def examples(short: int) -> int:
    """Examples for a fuzzer that draws ``short`` of them in the bounded run."""
    return short * _FACTOR


def fuzz_settings(short: int) -> settings:
    """Hypothesis settings for a fuzzer: ``short`` examples (times the long factor), no
    per-example deadline (the machine is shared), no database (runs stay reproducible from the
    seed hypothesis prints on failure)."""
    return settings(
        max_examples=examples(short),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
