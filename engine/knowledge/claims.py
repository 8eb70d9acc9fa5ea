"""The seeds' quantitative memory claims (``kb/claims.yaml``), read and validated as records.

Each claim states a situation (workload, model, method, precision, card size, GPU count) and what
it expects (it fits, it does not fit, or it needs about X GB). ``catalogs`` checks the file's shape
and names; the arithmetic (``arithmetic.claims``) turns a record's situation into a sizing request
and gives the verdict, which is never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gpu_advisor.errors import Location

Expectation = Literal["fits", "does-not-fit", "needs"]

DEFAULT_TOLERANCE = 0.15
"""How far a "needs about X GB" claim may be from our figure and still hold."""
FIXABLE = frozenset(
    {"method", "precision", "kv_precision", "optimizer", "bytes_per_param", "zero", "offload"}
)
"""What a claim may state outright, so that no memory saver changing it is tried."""
SIZING_FIELDS = {
    "workload": "workload",
    "method": "method",
    "precision": "precision",
    "context": "context_tokens",
    "batch": "batch_size",
    "gpus": "gpus",
    "zero": "zero_stage",
    "offload": "offload",
    "kv_precision": "kv_precision",
    "optimizer": "optimizer",
    "gradient_checkpointing": "gradient_checkpointing",
    "bytes_per_param": "bytes_per_param_convention",
}
"""Keys of a claim's ``check`` and the sizing request field each one sets."""


@dataclass(frozen=True)
class AppliesTo:
    """When a consultation is in the claim's territory (empty tuples do not constrain)."""

    workloads: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    params_min: float | None = None
    params_max: float | None = None


@dataclass(frozen=True)
class Situation:
    """A claim's situation as the file states it: sizing request fields, and what it expects."""

    sizing: tuple[tuple[str, Any], ...]  # (request field, value), including params_b and model
    expect: Expectation
    device: str | None
    device_memory_gb: float | None
    needs_gb: float | None
    tolerance: float
    fixed: frozenset[str]
    location: Location


@dataclass(frozen=True)
class ClaimRecord:
    """One claim of ``claims.yaml``."""

    id: str
    source: str
    claim: str
    situation: Situation
    applies_to: AppliesTo
    note: str | None = None


def shipped_claims_path() -> Path:
    """The claims file that installs with the package."""
    from importlib import resources  # about 2 ms: only when the shipped file is asked for

    return Path(str(resources.files("gpu_advisor.kb").joinpath("claims.yaml")))
