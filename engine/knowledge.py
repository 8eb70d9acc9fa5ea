"""The knowledge base: device facts, each with its source, loaded from ``kb/``.

Every value is a *sourced value*: the preferred figure, its source, and any disagreeing figures
from other sources (``alternatives``) with the reason the preferred one won. Sources come from one
registry (``kb/sources.yaml``); a citation may carry a locator after ``#`` (``seed-003#table-1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import FileError, FileErrors, Location, UsageError, did_you_mean, one_of
from .schema_errors import validation_errors
from .yamlio import Document, iter_yaml_files, load_yaml

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "fp6", "fp4", "int8")
"""Precisions a throughput figure may be typed with, widest first."""

# Fallback order when a device has no figure at the precision a workload needs: the device runs
# the workload at the next wider format it does support (an FP4 model on an H100 runs as FP8).
_WIDER = {"fp4": "fp6", "fp6": "fp8", "int8": "fp8", "fp8": "bf16", "bf16": "fp16", "fp16": "tf32",
          "tf32": "fp32", "fp32": "fp64"}
_THROUGHPUT_KEY = re.compile(r"^(?P<precision>[a-z0-9]+)_(?P<kind>dense|sparse)$")
_ID = r"^[a-z0-9][a-z0-9-]*$"

Scalar = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """One entry of the sources registry."""

    id: str = Field(pattern=_ID)
    title: str
    publisher: str | None = None
    kind: Literal["seed", "vendor", "reference", "estimate"]
    document: str | None = None
    url: str | None = None
    date: str | None = None
    cited_by: list[str] = []
    note: str | None = None


class Alternative(_Strict):
    """A value another source gives for the same fact."""

    value: Scalar
    source: str
    note: str | None = None
    date: str | None = None


class Sourced(_Strict):
    """A fact's preferred value with its source, and the values other sources disagree with."""

    value: Scalar
    source: str
    note: str | None = None
    date: str | None = None
    unit: str | None = None
    alternatives: list[Alternative] = []
    preferred_because: str | None = None

    @property
    def source_id(self) -> str:
        return self.source.split("#", 1)[0]


class DeviceModel(_Strict):
    """Schema of one ``kb/devices/<id>.yaml`` file."""

    id: str = Field(pattern=_ID)
    name: str
    short_name: str
    family: str = Field(pattern=_ID)
    edition: str | None = None
    setting: Sourced
    architecture: Sourced
    chip: Sourced
    memory_gb: Sourced
    memory_type: Sourced
    ecc: Sourced
    unified_memory: Sourced | None = None
    bandwidth_gbs: Sourced
    memory_bus_bits: Sourced | None = None
    throughput: dict[str, Sourced]
    fp4: Sourced
    nvlink: Sourced
    nvlink_gbs: Sourced | None = None
    nvlink_max_gpus: Sourced | None = None
    pcie_gen: Sourced
    pcie_lanes: Sourced
    network: Sourced | None = None
    power_w: Sourced
    slots: Sourced | None = None
    cooling: Sourced
    driver_class: Sourced
    mig_instances: Sourced
    units_per_node: Sourced
    price_usd: Sourced

    @field_validator("throughput")
    @classmethod
    def _typed_keys(cls, value: dict[str, Sourced]) -> dict[str, Sourced]:
        for key in value:
            match = _THROUGHPUT_KEY.match(key)
            if not match or match["precision"] not in PRECISIONS:
                raise ValueError(
                    f"throughput key {key!r} must be <precision>_<dense|sparse> with precision "
                    f"one of {', '.join(PRECISIONS)} (a bare TFLOPS figure is not allowed)")
        return value


# Allowed values and plausible ranges of device facts: checked at load so that a typo in a hand
# edited file (a GPU with 0 GB, a "pasive" cooler) fails loudly with its location.
ENUMS: dict[str, tuple[str, ...]] = {
    "setting": ("desktop", "workstation", "server", "appliance"),
    "cooling": ("active", "blower", "passive", "integrated"),
    "driver_class": ("geforce", "professional", "datacenter"),
    "memory_type": ("GDDR6", "GDDR7", "HBM2e", "HBM3", "HBM3e", "LPDDR5X"),
}
RANGES: dict[str, tuple[float, float]] = {
    "memory_gb": (1, 2048), "bandwidth_gbs": (10, 20000), "power_w": (10, 3000),
    "price_usd": (50, 1_000_000), "pcie_gen": (3, 6), "pcie_lanes": (1, 16), "slots": (1, 5),
    "mig_instances": (0, 7), "units_per_node": (1, 16), "nvlink_gbs": (10, 5000),
    "nvlink_max_gpus": (1, 576), "memory_bus_bits": (64, 8192),
}
BOOLEANS = ("ecc", "unified_memory", "fp4", "nvlink")
THROUGHPUT_RANGE = (0.1, 100_000.0)


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

    def __init__(self, model: DeviceModel, path: str) -> None:
        self.model = model
        self.path = path
        self.id = model.id
        self.name = model.name
        self.short_name = model.short_name
        self.family = model.family
        self.edition = model.edition

    def fact(self, name: str) -> Sourced | None:
        """The sourced value of a top-level fact, or None when the device file omits it."""
        value = getattr(self.model, name, None)
        return value if isinstance(value, Sourced) else None

    def value(self, name: str) -> Any:
        """The preferred value of a fact (None when absent)."""
        fact = self.fact(name)
        return None if fact is None else fact.value

    def sourced_facts(self) -> dict[str, Sourced]:
        """Every sourced fact by name; throughput figures as ``throughput.<key>``."""
        facts = {name: getattr(self.model, name) for name in DeviceModel.model_fields
                 if isinstance(getattr(self.model, name), Sourced)}
        facts.update({f"throughput.{key}": value for key, value in self.model.throughput.items()})
        return facts

    def throughput(self, precision: str, sparse: bool) -> TypedThroughput | None:
        """The figure for exactly this precision and kind; dense is derived from sparse if needed."""
        figures = self.model.throughput
        key = f"{precision}_{'sparse' if sparse else 'dense'}"
        if key in figures and figures[key].value is not None:
            fig = figures[key]
            return TypedThroughput(float(fig.value), precision, sparse, False, fig.source,  # type: ignore[arg-type]
                                   fig.note or "")
        if not sparse:
            sparse_fig = figures.get(f"{precision}_sparse")
            if sparse_fig is not None and sparse_fig.value is not None:
                return TypedThroughput(float(sparse_fig.value) / 2, precision, False, True,  # type: ignore[arg-type]
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
        return any(key.startswith(f"{precision}_") for key in self.model.throughput)

    def ai_peak(self) -> TypedThroughput | None:
        """The headline tensor peak: lowest precision the KB has, sparse where given."""
        for precision in ("fp4", "fp6", "fp8", "int8", "fp16", "bf16", "tf32"):
            for sparse in (True, False):
                key = f"{precision}_{'sparse' if sparse else 'dense'}"
                if key in self.model.throughput:
                    return self.throughput(precision, sparse)
        return None

    @cached_property
    def hbm(self) -> bool:
        return str(self.value("memory_type")).upper().startswith("HBM")

    def __repr__(self) -> str:
        return f"Device({self.id!r})"


@dataclass
class Knowledge:
    """All devices and sources, validated together."""

    devices: dict[str, Device]
    sources: dict[str, Source]
    directory: Path

    def device(self, device_id: str) -> Device:
        try:
            return self.devices[device_id]
        except KeyError:
            raise UsageError(f"unknown device {device_id!r}{did_you_mean(device_id, self.devices)}; "
                             f"{one_of(self.devices)}") from None

    def cite(self, citation: str) -> str:
        """A human-readable form of a citation like ``seed-003#table-2``."""
        source_id, _, locator = citation.partition("#")
        source = self.sources.get(source_id)
        title = source.title if source else source_id
        return f"{title} ({locator})" if locator else title


def shipped_kb_dir() -> Path:
    """The knowledge base that installs with the package."""
    return Path(str(resources.files("gpu_advisor.kb")))


def load_knowledge(directory: Path | str | None = None) -> Knowledge:
    """Load and validate ``sources.yaml`` and ``devices/*.yaml``; raise FileErrors with all problems."""
    base = Path(directory) if directory is not None else shipped_kb_dir()
    errors: list[FileError] = []
    sources = _load_sources(base / "sources.yaml", errors)
    devices: dict[str, Device] = {}
    device_dir = base / "devices"
    if not device_dir.is_dir():
        errors.append(FileError(Location(str(device_dir)), "knowledge base has no devices/ folder"))
    else:
        for path in iter_yaml_files(device_dir):
            device = _load_device(path, sources, errors)
            if device is None:
                continue
            if device.id in devices:
                errors.append(FileError(Location(str(path)),
                                        f"device id {device.id!r} also defined in {devices[device.id].path}"))
            devices[device.id] = device
    if errors:
        raise FileErrors(errors)
    return Knowledge(devices=devices, sources=sources, directory=base)


def _load_sources(path: Path, errors: list[FileError]) -> dict[str, Source]:
    try:
        doc = load_yaml(path)
    except FileErrors as exc:
        errors.extend(exc.errors)
        return {}
    entries = doc.data.get("sources") if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        errors.append(FileError(doc.location(), "expected a mapping with a 'sources:' list"))
        return {}
    sources: dict[str, Source] = {}
    for i, entry in enumerate(entries):
        try:
            source = Source.model_validate(entry)
        except ValidationError as exc:
            errors.extend(validation_errors(doc, Source, exc, ("sources", i)))
            continue
        if source.id in sources:
            errors.append(FileError(doc.location(("sources", i, "id")), f"duplicate source id {source.id!r}"))
        sources[source.id] = source
    return sources


def _load_device(path: Path, sources: dict[str, Source], errors: list[FileError]) -> Device | None:
    try:
        doc = load_yaml(path)
    except FileErrors as exc:
        errors.extend(exc.errors)
        return None
    try:
        model = DeviceModel.model_validate(doc.data)
    except ValidationError as exc:
        errors.extend(validation_errors(doc, DeviceModel, exc))
        return None
    if model.id != path.stem:
        errors.append(FileError(doc.location(("id",)),
                                f"device id {model.id!r} must match the file name {path.stem!r}"))
    _check_device(doc, model, sources, errors)
    return Device(model, str(path))


def _check_device(doc: Document, model: DeviceModel, sources: dict[str, Source],
                  errors: list[FileError]) -> None:
    """Provenance, enums and plausible ranges: the checks a schema type cannot express."""
    facts: list[tuple[tuple[str | int, ...], Sourced]] = []
    for name in DeviceModel.model_fields:
        value = getattr(model, name)
        if isinstance(value, Sourced):
            facts.append(((name,), value))
    facts.extend((("throughput", key), value) for key, value in model.throughput.items())
    for key, fact in facts:
        name = str(key[-1])
        for where, citation in [((*key, "source"), fact.source)] + [
                ((*key, "alternatives", i, "source"), alt.source) for i, alt in enumerate(fact.alternatives)]:
            source_id = citation.split("#", 1)[0]
            if source_id not in sources:
                errors.append(FileError(doc.location(where),
                                        f"unknown source {source_id!r}{did_you_mean(source_id, sources)}"))
        if fact.alternatives and not fact.preferred_because:
            errors.append(FileError(doc.location(key),
                                    f"{name}: sources disagree; say why the preferred value wins "
                                    "(preferred_because)"))
        if key[0] == "price_usd" and not fact.date:
            errors.append(FileError(doc.location(key), "price_usd needs the date of the price (date:)"))
        values = [(key, fact.value)] + [((*key, "alternatives", i), a.value)
                                        for i, a in enumerate(fact.alternatives)]
        for where, value in values:
            problem = _implausible(key, value)
            if problem:
                errors.append(FileError(doc.location((*where, "value") if len(where) == len(key) else where),
                                        problem))


def _implausible(key: tuple[str | int, ...], value: Scalar) -> str | None:
    name = str(key[0])
    if value is None:
        return None if name in ("nvlink_gbs", "slots", "network", "pcie_gen", "pcie_lanes", "memory_bus_bits") else f"{name}: a value is required"
    if name == "throughput":
        low, high = THROUGHPUT_RANGE
        return _range_problem(f"throughput.{key[-1]}", value, low, high, "TFLOPS")
    if name in ENUMS:
        if value not in ENUMS[name]:
            return f"{name}: {value!r} is not {', '.join(ENUMS[name])}{did_you_mean(str(value), ENUMS[name])}"
        return None
    if name in BOOLEANS:
        return None if isinstance(value, bool) else f"{name}: expected true or false, got {value!r}"
    if name in RANGES:
        low, high = RANGES[name]
        return _range_problem(name, value, low, high, "")
    return None


def _range_problem(name: str, value: Scalar, low: float, high: float, unit: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name}: expected a number, got {value!r}"
    if not low <= value <= high:
        return f"{name}: {value:g}{' ' + unit if unit else ''} is outside the plausible range {low:g}..{high:g}"
    return None
