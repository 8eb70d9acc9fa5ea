"""The knowledge base: device facts, each with its source, loaded from ``kb/``.

Every value is a *sourced value*: the preferred figure, its source, and any disagreeing figures
from other sources (``alternatives``) with the reason the preferred one won. Sources come from one
registry (``kb/sources.yaml``); a citation may carry a locator after ``#`` (``seed-003#table-1``).
These are plain dataclasses (no pydantic): the file schemas and the loader live in ``kb_schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from gpu_advisor.errors import UsageError, did_you_mean, one_of

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "fp6", "fp4", "int8")
"""Precisions a throughput figure may be typed with, widest first."""

# Fallback order when a device has no figure at the precision a workload needs: the device runs
# the workload at the next wider format it does support (an FP4 model on an H100 runs as FP8).
_WIDER = {"fp4": "fp6", "fp6": "fp8", "int8": "fp8", "fp8": "bf16", "bf16": "fp16", "fp16": "tf32",
          "tf32": "fp32", "fp32": "fp64"}

Scalar = str | int | float | bool | None

DEVICE_ENUMS: dict[str, tuple[str, ...]] = {
    "setting": ("desktop", "workstation", "server", "appliance"),
    "cooling": ("active", "blower", "passive", "integrated"),
    "driver_class": ("geforce", "professional", "datacenter"),
    "memory_type": ("GDDR6", "GDDR7", "HBM2e", "HBM3", "HBM3e", "LPDDR5X"),
}
"""The values a device fact of this kind may take (checked at load, offered to rules)."""


def split_citation(citation: str) -> tuple[str, str]:
    """``seed-003#table-2`` -> (``seed-003``, ``table-2``); the locator is '' when absent."""
    source_id, _, locator = citation.partition("#")
    return source_id, locator


def source_id(citation: str) -> str:
    """The registry id a citation names (``seed-003#table-2`` -> ``seed-003``)."""
    return split_citation(citation)[0]


@dataclass(frozen=True)
class Source:
    """One entry of the sources registry."""

    id: str
    title: str
    publisher: str | None
    kind: str  # seed | vendor | reference | estimate
    document: str | None = None
    url: str | None = None
    date: str | None = None
    cited_by: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Alternative:
    """A value another source gives for the same fact."""

    value: Scalar
    source: str
    note: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Sourced:
    """A fact's preferred value with its source, and the values other sources disagree with."""

    value: Scalar
    source: str
    note: str | None = None
    date: str | None = None
    unit: str | None = None
    alternatives: tuple[Alternative, ...] = ()
    preferred_because: str | None = None

    @property
    def source_id(self) -> str:
        return source_id(self.source)


@dataclass(frozen=True)
class TypedThroughput:
    """A throughput figure that always says what it measures: precision and dense/sparse."""

    tflops: float
    precision: str
    sparse: bool
    derived: bool
    source: str
    note: str = ""

    @property
    def label(self) -> str:
        kind = "sparse" if self.sparse else "dense"
        how = ", derived as sparse/2" if self.derived else ""
        return f"{self.precision.upper()} {kind}{how}"

    def __str__(self) -> str:
        return f"{self.tflops:,.1f} TFLOPS ({self.label})"


class Device:
    """A device as the engine sees it: preferred values, typed throughput, and provenance."""

    def __init__(self, id: str, name: str, short_name: str, family: str, edition: str | None,
                 facts: dict[str, Sourced], throughput: dict[str, Sourced], path: str) -> None:
        self.id = id
        self.name = name
        self.short_name = short_name
        self.family = family
        self.edition = edition
        self.facts = facts
        self.figures = throughput
        self.path = path
        self.hbm = str(self.value("memory_type")).upper().startswith("HBM")

    def fact(self, name: str) -> Sourced | None:
        """The sourced value of a top-level fact, or None when the device file omits it."""
        return self.facts.get(name)

    def value(self, name: str) -> Any:
        """The preferred value of a fact (None when absent)."""
        fact = self.facts.get(name)
        return None if fact is None else fact.value

    def sourced_facts(self) -> dict[str, Sourced]:
        """Every sourced fact by name; throughput figures as ``throughput.<key>``."""
        facts = dict(self.facts)
        facts.update({f"throughput.{key}": value for key, value in self.figures.items()})
        return facts

    def throughput(self, precision: str, sparse: bool) -> TypedThroughput | None:
        """The figure for exactly this precision and kind; dense is derived from sparse if needed."""
        figures = self.figures
        key = f"{precision}_{'sparse' if sparse else 'dense'}"
        fig = figures.get(key)
        if fig is not None and fig.value is not None:
            return TypedThroughput(float(fig.value), precision, sparse, False, fig.source,
                                   fig.note or "")
        if not sparse:
            sparse_fig = figures.get(f"{precision}_sparse")
            if sparse_fig is not None and sparse_fig.value is not None:
                return TypedThroughput(float(sparse_fig.value) / 2, precision, False, True,
                                       sparse_fig.source,
                                       "2:4 structured sparsity doubles the peak; dense is half")
        return None

    def dense_throughput_for(self, precision: str) -> TypedThroughput | None:
        """Dense throughput at the precision a workload needs, or the next wider one it supports."""
        probe: str | None = "bf16" if precision == "fp16" and not self._has("fp16") else precision
        while probe is not None:
            found = self.throughput(probe, sparse=False)
            if found is not None:
                return found
            probe = _WIDER.get(probe)
        return None

    def _has(self, precision: str) -> bool:
        return any(key.startswith(f"{precision}_") for key in self.figures)

    def ai_peak(self) -> TypedThroughput | None:
        """The headline tensor peak: lowest precision the KB has, sparse where given."""
        for precision in ("fp4", "fp6", "fp8", "int8", "fp16", "bf16", "tf32"):
            for sparse in (True, False):
                key = f"{precision}_{'sparse' if sparse else 'dense'}"
                if key in self.figures:
                    return self.throughput(precision, sparse)
        return None

    def __repr__(self) -> str:
        return f"Device({self.id!r})"


@dataclass
class Knowledge:
    """All devices and sources, validated together."""

    devices: dict[str, Device]
    sources: dict[str, Source]
    directory: Path
    fingerprint: str = field(default="")

    def device(self, device_id: str) -> Device:
        try:
            return self.devices[device_id]
        except KeyError:
            raise UsageError(f"unknown device {device_id!r}{did_you_mean(device_id, self.devices)}; "
                             f"{one_of(self.devices)}") from None

    def cite(self, citation: str) -> str:
        """A human-readable form of a citation like ``seed-003#table-2``."""
        registry_id, locator = split_citation(citation)
        source = self.sources.get(registry_id)
        title = source.title if source else registry_id
        return f"{title} ({locator})" if locator else title


def shipped_kb_dir() -> Path:
    """The knowledge base that installs with the package."""
    return Path(str(resources.files("gpu_advisor.kb")))

