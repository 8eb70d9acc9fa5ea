"""Loading the knowledge base: schemas and validation of ``kb/`` (pydantic; imported only here).

The runtime objects (``kb.Device``, ``kb.Sourced``...) are plain dataclasses so that a cached
knowledge base loads without importing pydantic; this module checks the files and converts them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, create_model, field_validator

from gpu_advisor.errors import FileError, FileErrors, Location, did_you_mean
from gpu_advisor.knowledge import kb as rt
from gpu_advisor.knowledge.schema import StrictModel, validate_part
from gpu_advisor.knowledge.yamlio import Document, iter_yaml_files, load_yaml

PRECISIONS = rt.PRECISIONS
_THROUGHPUT_KEY = re.compile(r"^(?P<precision>[a-z0-9]+)_(?P<kind>dense|sparse)$")
_ID = r"^[a-z0-9][a-z0-9-]*$"

Scalar = str | int | float | bool | None


class SourceModel(StrictModel):
    """One entry of the sources registry."""

    id: str = Field(pattern=_ID)
    title: str
    publisher: str | None = None
    kind: Literal["seed", "vendor", "reference", "estimate"]
    document: str | None = None
    url: str | None = None
    date: str | None = None
    cited_by: list[str] = Field(default=[])
    note: str | None = None


PriceKind = Literal["list", "street", "used", "estimate"]


class AlternativeModel(StrictModel):
    """A value another source gives for the same fact."""

    value: Scalar
    source: str
    note: str | None = None
    date: str | None = None
    as_of: str | None = None
    kind: PriceKind | None = None


class SourcedModel(StrictModel):
    """A fact's preferred value with its source, and the values other sources disagree with."""

    value: Scalar
    source: str
    note: str | None = None
    date: str | None = None
    unit: str | None = None
    alternatives: list[AlternativeModel] = Field(default=[])
    preferred_because: str | None = None
    as_of: str | None = None  # prices: when the price was seen (``date`` is accepted too)
    kind: PriceKind | None = None  # prices: list | street | used | estimate

    @property
    def when(self) -> str | None:
        """The date of the value: ``as_of`` for prices, ``date`` otherwise."""
        return self.as_of or self.date


class _DeviceBase(StrictModel):
    """The fields of a device file that are not sourced facts (those come from ``kb.KB_FACTS``)."""

    id: str = Field(pattern=_ID)
    name: str
    short_name: str
    family: str = Field(pattern=_ID)
    edition: str | None = None
    throughput: dict[str, SourcedModel]

    @field_validator("throughput")
    @classmethod
    def _typed_keys(cls, value: dict[str, SourcedModel]) -> dict[str, SourcedModel]:
        for key in value:
            match = _THROUGHPUT_KEY.match(key)
            if not match or match["precision"] not in PRECISIONS:
                raise ValueError(
                    f"throughput key {key!r} must be <precision>_<dense|sparse> with precision "
                    f"one of {', '.join(PRECISIONS)} (a bare TFLOPS figure is not allowed)"
                )
        return value


def _device_fields() -> dict[str, Any]:
    """One ``SourcedModel`` field per declared fact: required ones must be present."""
    return {
        fact.name: ((SourcedModel, ...) if fact.required else (SourcedModel | None, None))
        for fact in rt.KB_FACTS
    }


DeviceModel = create_model(
    "DeviceModel",
    __base__=_DeviceBase,
    __doc__="Schema of one ``kb/devices/<id>.yaml`` file.",
    **_device_fields(),
)
"""Schema of one ``kb/devices/<id>.yaml`` file: the fixed fields and every fact of
``kb.KB_FACTS``."""

# Allowed values and plausible ranges of device facts, from their declarations: checked at load
# so that a typo in a hand edited file (a GPU with 0 GB, a "pasive" cooler) fails loudly with its
# location.
ENUMS = rt.DEVICE_ENUMS
RANGES: dict[str, tuple[float, float]] = {f.name: f.range for f in rt.KB_FACTS if f.range}
BOOLEANS = tuple(f.name for f in rt.KB_FACTS if f.type == "bool")
NULLABLE = tuple(f.name for f in rt.KB_FACTS if f.nullable)
THROUGHPUT_RANGE = (0.1, 100_000.0)


def load_knowledge(directory: Path | str | None = None) -> rt.Knowledge:
    """Load and validate ``sources.yaml`` and ``devices/*.yaml``; raise FileErrors with all
    problems."""
    base = Path(directory) if directory is not None else rt.shipped_kb_dir()
    knowledge, errors = load_what_loads(base)
    if errors:
        raise FileErrors(errors)
    return knowledge


def load_what_loads(base: Path) -> tuple[rt.Knowledge, list[FileError]]:
    """Every source and device that validates, and the problems of the rest (the audit checks
    the rules against a broken knowledge base's good part, so one run shows every problem)."""
    errors: list[FileError] = []
    sources = load_sources(base / "sources.yaml", errors)
    devices: dict[str, rt.Device] = {}
    device_dir = base / "devices"
    if not device_dir.is_dir():
        errors.append(FileError(Location(str(device_dir)), "knowledge base has no devices/ folder"))
    else:
        for path in iter_yaml_files(device_dir):
            device = load_device(path, sources, errors)
            if device is None:
                continue
            if device.id in devices:
                errors.append(
                    FileError(
                        Location(str(path)),
                        f"device id {device.id!r} also defined in {devices[device.id].path}",
                    )
                )
                continue
            devices[device.id] = device
    return rt.Knowledge(devices=devices, sources=sources, directory=base), errors


def _sourced(model: SourcedModel) -> rt.Sourced:
    return rt.Sourced(
        model.value,
        model.source,
        model.note,
        model.when,
        model.unit,
        tuple(
            rt.Alternative(a.value, a.source, a.note, a.as_of or a.date, a.kind)
            for a in model.alternatives
        ),
        model.preferred_because,
        model.kind,
    )


def to_runtime(model: Any, path: str) -> rt.Device:
    facts = {
        fact.name: _sourced(getattr(model, fact.name))
        for fact in rt.KB_FACTS
        if isinstance(getattr(model, fact.name), SourcedModel)
    }
    throughput = {key: _sourced(value) for key, value in model.throughput.items()}
    return rt.Device(
        model.id, model.name, model.short_name, model.family, model.edition, facts, throughput, path
    )


def load_sources(path: Path, errors: list[FileError]) -> dict[str, rt.Source]:
    try:
        doc = load_yaml(path)
    except FileErrors as exc:
        errors.extend(exc.errors)
        return {}
    entries = doc.data.get("sources") if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        errors.append(FileError(doc.location(), "expected a mapping with a 'sources:' list"))
        return {}
    sources: dict[str, rt.Source] = {}
    for i, entry in enumerate(entries):
        checked = validate_part(doc, SourceModel, entry, errors, ("sources", i))
        if checked is None:
            continue
        source = rt.Source(
            checked.id,
            checked.title,
            checked.publisher,
            checked.kind,
            checked.document,
            checked.url,
            checked.date,
            tuple(checked.cited_by),
            checked.note,
        )
        if source.id in sources:
            errors.append(
                FileError(doc.location(("sources", i, "id")), f"duplicate source id {source.id!r}")
            )
        sources[source.id] = source
    return sources


def load_device(
    path: Path, sources: dict[str, rt.Source], errors: list[FileError]
) -> rt.Device | None:
    try:
        doc = load_yaml(path)
    except FileErrors as exc:
        errors.extend(exc.errors)
        return None
    model: Any = validate_part(doc, DeviceModel, doc.data, errors)
    if model is None:
        return None
    if model.id != path.stem:
        errors.append(
            FileError(
                doc.location(("id",)),
                f"device id {model.id!r} must match the file name {path.stem!r}",
            )
        )
    _check_device(doc, model, sources, errors)
    return to_runtime(model, str(path))


def _check_device(
    doc: Document, model: Any, sources: dict[str, rt.Source], errors: list[FileError]
) -> None:
    """Provenance, enums and plausible ranges: the checks a schema type cannot express."""
    facts: list[tuple[tuple[str | int, ...], SourcedModel]] = []
    for declared in rt.KB_FACTS:
        value = getattr(model, declared.name)
        if isinstance(value, SourcedModel):
            facts.append(((declared.name,), value))
    facts.extend((("throughput", key), value) for key, value in model.throughput.items())
    for key, fact in facts:
        name = str(key[-1])
        for where, citation in [((*key, "source"), fact.source)] + [
            ((*key, "alternatives", i, "source"), alt.source)
            for i, alt in enumerate(fact.alternatives)
        ]:
            registry_id = rt.source_id(citation)
            if registry_id not in sources:
                errors.append(
                    FileError(
                        doc.location(where),
                        f"unknown source {registry_id!r}{did_you_mean(registry_id, sources)}",
                    )
                )
        if fact.alternatives and not fact.preferred_because:
            errors.append(
                FileError(
                    doc.location(key),
                    f"{name}: sources disagree; say why the preferred value wins "
                    "(preferred_because)",
                )
            )
        if key[0] in rt.PRICE_FACTS and not fact.when:
            errors.append(
                FileError(doc.location(key), f"{name} needs the date of the price (as_of:)")
            )
        if key[0] not in rt.PRICE_FACTS and (fact.kind or fact.as_of):
            errors.append(
                FileError(doc.location(key), f"{name}: kind and as_of are for prices only")
            )
        values = [(key, fact.value)] + [
            ((*key, "alternatives", i), a.value) for i, a in enumerate(fact.alternatives)
        ]
        for where, value in values:
            problem = _implausible(key, value)
            if problem:
                errors.append(
                    FileError(
                        doc.location((*where, "value") if len(where) == len(key) else where),
                        problem,
                    )
                )


def _implausible(key: tuple[str | int, ...], value: Scalar) -> str | None:
    name = str(key[0])
    if value is None:
        return None if name in NULLABLE else f"{name}: a value is required"
    if name == "throughput":
        low, high = THROUGHPUT_RANGE
        return _range_problem(f"throughput.{key[-1]}", value, low, high, "TFLOPS")
    if name in ENUMS:
        if value not in ENUMS[name]:
            return (
                f"{name}: {value!r} is not {', '.join(ENUMS[name])}"
                f"{did_you_mean(str(value), ENUMS[name])}"
            )
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
        return (
            f"{name}: {value:g}{' ' + unit if unit else ''} is outside the plausible range "
            f"{low:g}..{high:g}"
        )
    return None
