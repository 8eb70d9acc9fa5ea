"""The knowledge base: device facts, each with its source, loaded from ``kb/``.

Every value is a *sourced value*: the preferred figure, its source, and any disagreeing figures
from other sources (``alternatives``) with the reason the preferred one won. Sources come from one
registry (``kb/sources.yaml``); a citation may carry a locator after ``#`` (``seed-003#table-1``).
These are plain dataclasses (no pydantic): the file schemas and the loader live in ``kb_schema``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gpu_advisor.errors import UsageError, did_you_mean, one_of

_T = TypeVar("_T")

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "fp6", "fp4", "int8")
"""Precisions a throughput figure may be typed with, widest first."""

# Fallback order when a device has no figure at the precision a workload needs: the device runs
# the workload at the next wider format it does support (an FP4 model on an H100 runs as FP8).
_WIDER = {
    "fp4": "fp6",
    "fp6": "fp8",
    "int8": "fp8",
    "fp8": "bf16",
    "bf16": "fp16",
    "fp16": "tf32",
    "tf32": "fp32",
    "fp32": "fp64",
}

Scalar = str | int | float | bool | None

PRICE_KINDS = ("list", "street", "used", "estimate")
"""What a price is: the vendor's list price, a retail (street) price, a second-hand price, or an
estimate without a quote."""


@dataclass(frozen=True)
class KbFact:
    """One device fact a ``kb/devices/<id>.yaml`` file may state, declared once.

    This table is the single declaration of a knowledge-base attribute: the file schema
    (``kb_schema.DeviceModel``, its enums and ranges), the rule vocabulary
    (``vocabulary.DEVICE_ATTRIBUTES``) and what a consultation hands the rules
    (``Device.attribute``) are all derived from it, so a new attribute needs only this entry,
    the facts in the device files and the rule that reads it.
    """

    name: str
    type: str  # number | bool | string
    description: str
    unit: str = ""
    choices: tuple[str, ...] = ()
    required: bool = True  # every device file states it (new facts are optional in the schema
    # so that trimmed test knowledge bases still load; the shipped KB is checked to have them all)
    nullable: bool = False  # the value may be null ("not applicable" / "not published")
    range: tuple[float, float] | None = None  # plausible range of a number, checked at load
    absent: Scalar = None  # what rules see when the value is null or the fact is missing
    rule: bool = True  # offered to rules as device.<name>


KB_FACTS: tuple[KbFact, ...] = (
    KbFact(
        "setting",
        "string",
        "intended setting",
        choices=("desktop", "workstation", "server", "appliance"),
    ),
    KbFact("architecture", "string", "GPU architecture"),
    KbFact("chip", "string", "GPU die or system-on-chip", rule=False),
    KbFact(
        "memory_gb",
        "number",
        "memory capacity usable for sizing: the card's memory, or for a unified-memory device "
        "the share the GPU may use (usable_memory_gb)",
        unit="GB",
        range=(1, 2048),
    ),
    KbFact(
        "usable_memory_gb",
        "number",
        "unified-memory devices: memory the GPU can use by default, net of the operating system "
        "and CPU work",
        unit="GB",
        required=False,
        nullable=True,
        range=(1, 2048),
    ),
    KbFact(
        "memory_type",
        "string",
        "memory technology",
        choices=("GDDR6", "GDDR6X", "GDDR7", "HBM2e", "HBM3", "HBM3e", "LPDDR5", "LPDDR5X"),
    ),
    KbFact("ecc", "bool", "error-correcting memory"),
    KbFact(
        "unified_memory",
        "bool",
        "CPU and GPU share one coherent memory",
        required=False,
        absent=False,
    ),
    KbFact("bandwidth_gbs", "number", "memory bandwidth", unit="GB/s", range=(10, 20000)),
    KbFact(
        "memory_bus_bits",
        "number",
        "memory bus width",
        unit="bit",
        required=False,
        nullable=True,
        range=(64, 8192),
        rule=False,
    ),
    KbFact(
        "fp64_tflops",
        "number",
        "FP64 (double precision) vector throughput; 0 where the vendor gives none (no FP64 "
        "arithmetic worth the name)",
        unit="TFLOPS",
        required=False,
        nullable=True,
        range=(0.01, 1000),
        absent=0,
    ),
    KbFact(
        "fp64_tensor_tflops",
        "number",
        "FP64 throughput on tensor/matrix cores (0 without FP64 matrix units)",
        unit="TFLOPS",
        required=False,
        nullable=True,
        range=(0.01, 1000),
        absent=0,
    ),
    KbFact("fp4", "bool", "native FP4 tensor cores"),
    KbFact(
        "fp8_support",
        "string",
        "how FP8 runs: on tensor cores, or weight-only (stored in FP8, computed in BF16/FP16)",
        choices=("tensor", "weight-only"),
        required=False,
    ),
    KbFact(
        "fp4_support",
        "string",
        "how FP4 runs: on tensor cores, or weight-only (stored in 4 bits, computed wider)",
        choices=("tensor", "weight-only"),
        required=False,
    ),
    KbFact("nvlink", "bool", "NVLink between GPUs"),
    KbFact(
        "nvlink_gbs",
        "number",
        "NVLink bandwidth (0 without NVLink)",
        unit="GB/s",
        required=False,
        nullable=True,
        range=(10, 5000),
        absent=0,
    ),
    KbFact(
        "nvlink_max_gpus",
        "number",
        "GPUs one NVLink domain joins (1 without NVLink)",
        required=False,
        nullable=True,
        range=(1, 576),
        absent=1,
    ),
    KbFact("pcie_gen", "number", "PCIe generation", nullable=True, range=(3, 6)),
    KbFact("pcie_lanes", "number", "PCIe lanes", nullable=True, range=(1, 16), rule=False),
    KbFact(
        "network",
        "string",
        "integrated network interface",
        required=False,
        nullable=True,
        rule=False,
    ),
    KbFact("power_w", "number", "board power (TDP / max)", unit="W", range=(10, 3000)),
    KbFact(
        "system_power_w",
        "number",
        "maximum power of the whole system built around this device's purchase unit, host included",
        unit="W",
        required=False,
        nullable=True,
        range=(100, 100_000),
    ),
    KbFact(
        "slots",
        "number",
        "PCIe slots the card occupies",
        required=False,
        nullable=True,
        range=(1, 5),
        rule=False,
    ),
    KbFact("cooling", "string", "cooling", choices=("active", "blower", "passive", "integrated")),
    KbFact(
        "driver_class",
        "string",
        "driver branch",
        choices=("geforce", "professional", "datacenter", "macos"),
    ),
    KbFact("mig_instances", "number", "Multi-Instance GPU partitions (0 = none)", range=(0, 7)),
    KbFact(
        "partitioning",
        "string",
        "hardware partitioning into isolated GPUs for several tenants: NVIDIA MIG, AMD compute "
        "partitions (CPX), or none",
        choices=("mig", "amd-cpx", "none"),
        required=False,
    ),
    KbFact(
        "partitions",
        "number",
        "isolated partitions one unit can be split into (1 = none)",
        required=False,
        range=(1, 8),
        absent=1,
    ),
    KbFact(
        "partition_memory_gb",
        "number",
        "memory of the smallest partition (0 without partitioning)",
        unit="GB",
        required=False,
        nullable=True,
        range=(1, 2048),
        absent=0,
    ),
    KbFact("units_per_node", "number", "units one box commonly holds", range=(1, 16)),
    KbFact(
        "software_stack",
        "string",
        "the GPU programming stack: CUDA (NVIDIA), ROCm (AMD) or Metal/MLX (Apple)",
        choices=("cuda", "rocm", "metal"),
        required=False,
    ),
    KbFact(
        "stack_min_version",
        "number",
        "oldest release of the stack that supports the device (CUDA toolkit, ROCm; for Metal "
        "the macOS release MLX needs)",
        required=False,
        range=(1, 100),
    ),
    KbFact(
        "cpu_arch",
        "string",
        "CPU architecture of the host the device comes with or in",
        choices=("x86_64", "aarch64", "arm64"),
        required=False,
    ),
    KbFact(
        "lifecycle",
        "string",
        "whether the vendor still makes it",
        choices=("current", "end-of-life"),
        required=False,
    ),
    KbFact(
        "market",
        "string",
        "where it is bought at the price recorded: new, or only second-hand",
        choices=("new", "used"),
        required=False,
    ),
    KbFact(
        "price_usd", "number", "reference unit price (one GPU)", unit="USD", range=(50, 1_000_000)
    ),
    KbFact(
        "purchase_unit",
        "string",
        "what is actually bought",
        choices=("card", "board", "system", "appliance", "platform"),
        required=False,
    ),
    KbFact(
        "purchase_unit_gpus", "number", "GPUs in one purchase unit", required=False, range=(1, 64)
    ),
    KbFact(
        "purchase_unit_price_usd",
        "number",
        "price of one purchase unit",
        unit="USD",
        required=False,
        range=(50, 10_000_000),
    ),
)
"""Every top-level sourced fact of a device file, in file order."""

KB_FACT_BY_NAME: dict[str, KbFact] = {f.name: f for f in KB_FACTS}

PRICE_FACTS = ("price_usd", "purchase_unit_price_usd")
"""Facts that are prices: each must say when (``as_of``) and what kind of price it is."""

DEVICE_ENUMS: dict[str, tuple[str, ...]] = {f.name: f.choices for f in KB_FACTS if f.choices}
"""The values a device fact of this kind may take (checked at load, offered to rules)."""


@dataclass(frozen=True)
class DerivedFact:
    """A device attribute computed from the knowledge base alone (no answers needed)."""

    name: str
    type: str
    description: str
    unit: str = ""
    choices: tuple[str, ...] = ()


KB_DERIVED: tuple[DerivedFact, ...] = (
    DerivedFact("id", "string", "knowledge-base device id"),
    DerivedFact("family", "string", "card family; editions of one card share it"),
    DerivedFact("hbm", "bool", "memory is HBM (high-bandwidth stacked memory)"),
    DerivedFact("fp32_tflops", "number", "FP32 (non-tensor) dense throughput", unit="TFLOPS"),
    DerivedFact("price_kind", "string", "what the reference price is", choices=PRICE_KINDS),
    DerivedFact("price_as_of", "string", "when the reference price was seen (YYYY or YYYY-MM)"),
    DerivedFact(
        "price_year_old_month",
        "number",
        "the month (YYYYMM) from which the reference price is a year old; compare with "
        "answer.consultation_month",
    ),
)
"""Attributes the knowledge base implies without stating them as facts."""

KB_ATTRIBUTE_NAMES: tuple[str, ...] = (
    tuple(d.name for d in KB_DERIVED[:2])
    + tuple(f.name for f in KB_FACTS if f.rule)
    + tuple(d.name for d in KB_DERIVED[2:])
)
"""The device attributes of knowledge-base origin, in the order rules and reports see them."""


def month_number(as_of: str | None) -> int | None:
    """``2025-12`` -> 202512; ``2026`` -> 202601 (the earliest month the date may mean)."""
    if not as_of:
        return None
    year, _, month = str(as_of).partition("-")
    if not year.isdigit():
        return None
    return int(year) * 100 + (int(month[:2]) if month[:2].isdigit() else 1)


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
    kind: str | None = None  # prices: list | street | used | estimate


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
    kind: str | None = None  # prices: list | street | used | estimate (``date`` is the as-of date)

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

    def __init__(
        self,
        id: str,
        name: str,
        short_name: str,
        family: str,
        edition: str | None,
        facts: dict[str, Sourced],
        throughput: dict[str, Sourced],
        path: str,
    ) -> None:
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

    def attribute(self, name: str) -> Any:
        """What rules see as ``device.<name>`` for a knowledge-base attribute
        (``KB_ATTRIBUTE_NAMES``).

        A declared fact gives its preferred value, or the declaration's ``absent`` value when the
        file omits it or states null. For a unified-memory device ``memory_gb`` is the memory the
        GPU may use (``usable_memory_gb``), not the whole pool the CPU and OS share: that is what
        the sizing compares the workload with.
        """
        declared = KB_FACT_BY_NAME.get(name)
        if declared is not None:
            if name == "memory_gb" and self.value("unified_memory") is True:
                usable = self.value("usable_memory_gb")
                if usable is not None:
                    return usable
            value = self.value(name)
            return declared.absent if value is None else value
        if name == "id":
            return self.id
        if name == "family":
            return self.family
        if name == "hbm":
            return self.hbm
        if name == "fp32_tflops":
            fp32 = self.throughput("fp32", sparse=False)
            return fp32.tflops if fp32 else None
        price = self.fact("price_usd")
        if name == "price_kind":
            return None if price is None else price.kind
        if name == "price_as_of":
            return None if price is None else price.date
        if name == "price_year_old_month":
            month = month_number(None if price is None else price.date)
            return None if month is None else month + 100
        raise KeyError(f"{name!r} is not a knowledge-base attribute")

    def attributes(self) -> dict[str, Any]:
        """Every knowledge-base attribute rules may read, by name (a fresh dict each call, worked
        out once per device: the values depend on the device's facts alone)."""
        return dict(self.remembered("attributes", self._attribute_values))

    def _attribute_values(self) -> dict[str, Any]:
        return {name: self.attribute(name) for name in KB_ATTRIBUTE_NAMES}

    def remembered(self, key: Hashable, make: Callable[..., _T], *args: Any) -> _T:
        """A value worked out from this device's facts alone (and ``key``), computed once: a
        device is immutable once loaded, and the lever search asks the same of every device in
        each situation it tries."""
        memo: dict[Hashable, Any] | None = self.__dict__.get("_remembered")
        if memo is None:
            memo = self.__dict__["_remembered"] = {}
        try:
            found: _T = memo[key]
        except KeyError:
            found = memo[key] = make(*args)
        return found

    def sourced_facts(self) -> dict[str, Sourced]:
        """Every sourced fact by name; throughput figures as ``throughput.<key>``."""
        facts = dict(self.facts)
        facts.update({f"throughput.{key}": value for key, value in self.figures.items()})
        return facts

    def throughput(self, precision: str, sparse: bool) -> TypedThroughput | None:
        """The figure for exactly this precision and kind; dense is derived from sparse if
        needed."""
        return self.remembered(
            ("throughput", precision, sparse), self._throughput, precision, sparse
        )

    def _throughput(self, precision: str, sparse: bool) -> TypedThroughput | None:
        figures = self.figures
        key = f"{precision}_{'sparse' if sparse else 'dense'}"
        fig = figures.get(key)
        if fig is not None and fig.value is not None:
            return TypedThroughput(
                float(fig.value), precision, sparse, False, fig.source, fig.note or ""
            )
        if not sparse:
            sparse_fig = figures.get(f"{precision}_sparse")
            if sparse_fig is not None and sparse_fig.value is not None:
                return TypedThroughput(
                    float(sparse_fig.value) / 2,
                    precision,
                    False,
                    True,
                    sparse_fig.source,
                    "2:4 structured sparsity doubles the peak; dense is half",
                )
        return None

    def dense_throughput_for(self, precision: str) -> TypedThroughput | None:
        """Dense throughput at the precision a workload needs, or the next wider one it supports.

        A precision the device runs weight-only (``fp8_support``/``fp4_support: weight-only``:
        stored narrow, dequantized and computed in BF16/FP16) gets the BF16 figure: the narrow
        format saves memory, not time.
        """
        return self.remembered(("dense", precision), self._dense_throughput_for, precision)

    def _dense_throughput_for(self, precision: str) -> TypedThroughput | None:
        probe: str | None = "bf16" if precision == "fp16" and not self._has("fp16") else precision
        if self.value(f"{precision}_support") == "weight-only":
            probe = "bf16" if self._has("bf16") or not self._has("fp16") else "fp16"
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
            raise UsageError(
                f"unknown device {device_id!r}{did_you_mean(device_id, self.devices)}; "
                f"{one_of(self.devices)}"
            ) from None

    def cite(self, citation: str) -> str:
        """A human-readable form of a citation like ``seed-003#table-2``."""
        registry_id, locator = split_citation(citation)
        source = self.sources.get(registry_id)
        title = source.title if source else registry_id
        return f"{title} ({locator})" if locator else title


def shipped_kb_dir() -> Path:
    """The knowledge base that installs with the package."""
    from importlib import resources  # about 2 ms: only when the shipped folder is asked for

    return Path(str(resources.files("gpu_advisor.kb")))
