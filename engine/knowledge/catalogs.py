"""Loading the catalogs of ``kb/``: models, claims, energy and pathways (pydantic; loaders only).

Why one module of this length: each catalog's schema sits beside its loader, and they share
the location-keeping validation helpers at the bottom.

The records these files become are plain dataclasses in ``models``, ``claims`` and ``energy``,
so that the arithmetic imports them without pydantic; every file is validated here against a
:class:`~gpu_advisor.knowledge.schema.StrictModel` schema and loaded once per path.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from gpu_advisor.errors import FileError, FileErrors, UsageError, did_you_mean, one_of
from gpu_advisor.knowledge.claims import (
    DEFAULT_TOLERANCE,
    FIXABLE,
    SIZING_FIELDS,
    AppliesTo,
    ClaimRecord,
    Expectation,
    Situation,
    shipped_claims_path,
)
from gpu_advisor.knowledge.demand import (
    INTERACTIVE_FIELDS,
    TRAINING_FIELDS,
    Default,
    DemandDefaults,
)
from gpu_advisor.knowledge.energy import (
    CUSTOM_SCENARIO,
    Battery,
    EnergyKnobs,
    Erratum,
    Money,
    Pathways,
    Peak,
    PlanDevice,
    Scenario,
    to_money,
)
from gpu_advisor.knowledge.kb import shipped_kb_dir
from gpu_advisor.knowledge.models import (
    GATED_MLP_MATRICES,
    ModelArch,
    normalize_model_name,
    resolve_model,
    shipped_models_path,
)
from gpu_advisor.knowledge.schema import StrictModel, file_check, validate_part
from gpu_advisor.knowledge.yamlio import Document, load_yaml

Shape = TypeVar("Shape", bound=BaseModel)

# ---------------------------------------------------------------------------------------------
# models.yaml


_EXPERT_FIELDS = ("experts", "experts_per_token", "moe_layers", "expert_intermediate_size")
"""A mixture of experts names all four (dense models none): what splits dense from experts."""
_OPTIONAL_COUNTS = ("vocab_size", *_EXPERT_FIELDS)
_COUNTS = ("layers", "hidden", "attention_heads", "kv_heads", "head_dim", *_OPTIONAL_COUNTS)


class ModelEntry(StrictModel):
    """Schema of one entry of ``models.yaml``."""

    name: str
    params_b: float
    layers: int
    hidden: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    source: str
    vocab_size: int | None = None
    experts: int | None = None
    experts_per_token: int | None = None
    moe_layers: int | None = None
    expert_intermediate_size: int | None = None
    aliases: list[str] = Field(default=[])
    note: str | None = None

    @field_validator("params_b", *_COUNTS, mode="before")
    @classmethod
    def _positive(cls, value: Any, info: ValidationInfo) -> Any:
        whole = info.field_name != "params_b"
        if value is None and info.field_name in _OPTIONAL_COUNTS:
            return value
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            kind = "a whole number" if whole else "a number"
            raise file_check(f"{info.field_name}: expected {kind}, got {value!r}")
        if value <= 0:
            raise file_check(f"{info.field_name}: must be positive, got {value!r}")
        return value

    @field_validator("kv_heads")
    @classmethod
    def _grouped_query(cls, value: int, info: ValidationInfo) -> int:
        heads = info.data.get("attention_heads")
        if isinstance(heads, int) and heads % value:
            raise file_check(
                f"kv_heads {value} must divide attention_heads {heads} (grouped-query attention)"
            )
        return value

    @field_validator("experts_per_token")
    @classmethod
    def _chosen_among_the_experts(cls, value: int | None, info: ValidationInfo) -> int | None:
        experts = info.data.get("experts")
        if value is not None and isinstance(experts, int) and value > experts:
            raise file_check(
                f"experts_per_token {value} is more than the {experts} experts of a MoE layer"
            )
        return value

    @field_validator("moe_layers")
    @classmethod
    def _within_the_layers(cls, value: int | None, info: ValidationInfo) -> int | None:
        layers = info.data.get("layers")
        if value is not None and isinstance(layers, int) and value > layers:
            raise file_check(f"moe_layers {value} is more than the model's {layers} layers")
        return value


def _expert_errors(
    doc: Document, where: tuple[str, int], model: ModelEntry, arch: ModelArch
) -> list[FileError]:
    """A mixture names all four expert fields or none, and its routed experts leave room for
    the dense part (attention, embeddings): ``dense = params - experts`` must be positive."""
    given = [key for key in _EXPERT_FIELDS if getattr(model, key) is not None]
    if not given:
        return []
    missing = [key for key in _EXPERT_FIELDS if key not in given]
    if missing:
        return [
            FileError(
                doc.location(where),
                f"a mixture of experts names all of {', '.join(_EXPERT_FIELDS[:-1])} and "
                f"{_EXPERT_FIELDS[-1]}; missing: "
                f"{', '.join(missing)}",
            )
        ]
    total = round(arch.params_b * 1e9)
    if arch.routed_expert_params >= total:
        return [
            FileError(
                doc.location((*where, "expert_intermediate_size")),
                f"the routed experts ({arch.moe_layers} MoE layers x {arch.experts} experts x "
                f"{GATED_MLP_MATRICES} x {arch.hidden} hidden x {arch.expert_intermediate_size}"
                f" = {arch.routed_expert_params:,} weights) leave nothing of params_b "
                f"{arch.params_b:g} ({total:,}) for attention and embeddings",
            )
        ]
    return []


def load_model_catalog(path: Path | None = None) -> dict[str, ModelArch]:
    """The model catalog by canonical name; loaded and validated once per path, then cached."""
    target = Path(path) if path is not None else shipped_models_path()
    return dict(_load_catalog_cached(str(target.resolve())))


@functools.lru_cache(maxsize=64)
def _load_catalog_cached(path: str) -> tuple[tuple[str, ModelArch], ...]:
    doc = load_yaml(path)
    entries = doc.data.get("models") if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        raise FileErrors([FileError(doc.location(), "expected a mapping with a 'models:' list")])
    errors: list[FileError] = []
    catalog: dict[str, ModelArch] = {}
    names_seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = ("models", index)
        if not isinstance(entry, dict):
            errors.append(FileError(doc.location(where), "each model must be a mapping"))
            continue
        model = validate_part(doc, ModelEntry, entry, errors, where)
        if model is None:
            continue
        arch = ModelArch(
            name=normalize_model_name(model.name),
            params_b=float(model.params_b),
            layers=model.layers,
            hidden=model.hidden,
            attention_heads=model.attention_heads,
            kv_heads=model.kv_heads,
            head_dim=model.head_dim,
            source=model.source,
            vocab_size=model.vocab_size,
            aliases=tuple(normalize_model_name(a) for a in model.aliases),
            experts=model.experts or 0,
            experts_per_token=model.experts_per_token or 0,
            moe_layers=model.moe_layers or 0,
            expert_intermediate_size=model.expert_intermediate_size or 0,
        )
        problems = _expert_errors(doc, where, model, arch)
        if problems:
            errors.extend(problems)
            continue
        for label in dict.fromkeys((arch.name, *arch.aliases)):
            if label in names_seen:
                errors.append(
                    FileError(
                        doc.location(where),
                        f"model name {label!r} is already used by entry {names_seen[label] + 1}",
                    )
                )
            names_seen[label] = index
        catalog[arch.name] = arch
    if errors:
        raise FileErrors(errors)
    return tuple(catalog.items())


# ---------------------------------------------------------------------------------------------
# claims.yaml

_SOURCE = re.compile(r"^seed-00[0-3](#[a-z0-9-]+)?$")


def _positive(name: str, value: Any) -> Any:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise file_check(f"{name}: expected a positive number, got {value!r}")
    return value


class _Span(StrictModel):
    min: float | None = None
    max: float | None = None

    @field_validator("min", "max", mode="before")
    @classmethod
    def _positive(cls, value: Any, info: ValidationInfo) -> Any:
        return _positive(str(info.field_name), value)


class _Applies(StrictModel):
    workload: list[str] = Field(default=[])
    method: list[str] = Field(default=[])
    precision: list[str] = Field(default=[])
    params_b: _Span | None = None

    @field_validator("workload", "method", "precision", mode="before")
    @classmethod
    def _names(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise file_check(f"{info.field_name}: expected a list of names")
        return value

    @field_validator("params_b", mode="before")
    @classmethod
    def _span(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value or not set(value) <= {"min", "max"}:
            raise file_check("params_b: expected {min: N, max: N}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> _Applies:
        span = self.params_b
        if (
            span is not None
            and span.min is not None
            and span.max is not None
            and span.min > span.max
        ):
            raise file_check("params_b: min is above max")
        return self


class _Check(StrictModel):
    workload: str | None = None
    params_b: float | None = None
    model: str | None = None
    method: str | None = None
    precision: str | None = None
    context: int | None = None
    batch: int | None = None
    gpus: int | None = None
    zero: int | None = None
    offload: bool | None = None
    kv_precision: str | None = None
    optimizer: str | None = None
    gradient_checkpointing: bool | None = None
    bytes_per_param: int | None = None
    device: str | None = None
    device_memory_gb: float | None = None
    expect: Any
    fixed: list[str] = Field(default=[])

    @field_validator("params_b", "device_memory_gb", mode="before")
    @classmethod
    def _positive(cls, value: Any, info: ValidationInfo) -> Any:
        return _positive(str(info.field_name), value)

    @field_validator("expect", mode="before")
    @classmethod
    def _expect(cls, value: Any) -> Any:
        if value in ("fits", "does-not-fit"):
            return value
        if (
            isinstance(value, dict)
            and "needs_gb" in value
            and set(value) <= {"needs_gb", "tolerance"}
        ):
            _positive("needs_gb", value["needs_gb"])
            tolerance = value.get("tolerance", DEFAULT_TOLERANCE)
            if (
                isinstance(tolerance, bool)
                or not isinstance(tolerance, (int, float))
                or not 0 < tolerance < 1
            ):
                raise file_check(
                    f"tolerance: expected a fraction between 0 and 1, got {tolerance!r}"
                )
            return value
        raise file_check("expect: use 'fits', 'does-not-fit' or {needs_gb: N, tolerance: 0.15}")

    @field_validator("fixed", mode="before")
    @classmethod
    def _fixed(cls, value: Any) -> Any:
        if not isinstance(value, list) or not all(
            isinstance(f, str) and f in FIXABLE for f in value
        ):
            raise file_check(f"fixed: expected a list of field names, each {one_of(FIXABLE)}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> _Check:
        if (self.params_b is None) == (self.model is None):
            raise file_check("check: give exactly one of params_b and model")
        if self.expect in ("fits", "does-not-fit") and self.device_memory_gb is None:
            raise file_check(f"check: expect {self.expect} needs device_memory_gb")
        return self


class _Claim(StrictModel):
    id: str
    source: str
    claim: str
    check: _Check
    applies_to: _Applies
    note: str | None = None

    @field_validator("source")
    @classmethod
    def _seed(cls, value: str) -> str:
        if not _SOURCE.match(value):
            raise file_check(
                f"source {value!r} must be a seed id seed-000..seed-003, optionally with a #locator"
            )
        return value


def load_claim_records(path: Path | str | None = None) -> list[ClaimRecord]:
    """The claims file, validated (every problem reported with its line), cached per path."""
    target = Path(path) if path is not None else shipped_claims_path()
    return list(_load_cached(str(target.resolve())))


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> tuple[ClaimRecord, ...]:
    doc = load_yaml(path)
    entries = doc.data.get("claims") if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        raise FileErrors([FileError(doc.location(), "expected a mapping with a 'claims:' list")])
    errors: list[FileError] = []
    records: list[ClaimRecord] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = ("claims", index)
        if not isinstance(entry, dict):
            errors.append(FileError(doc.location(where), "each claim must be a mapping"))
            continue
        parsed = validate_part(doc, _Claim, entry, errors, where)
        if parsed is None:
            continue
        check = parsed.check
        sizing: dict[str, Any] = {
            field: getattr(check, key)
            for key, field in SIZING_FIELDS.items()
            if key in check.model_fields_set
        }
        sizing.setdefault("context_tokens", 4096 if sizing.get("workload") == "inference" else 2048)
        model: ModelArch | None = None
        if check.model is not None:
            try:
                model = resolve_model(check.model, load_model_catalog())
            except UsageError as exc:
                errors.append(
                    FileError(
                        doc.location((*where, "check", "model")), f"{exc.field}: {exc.message}"
                    )
                )
                continue
        sizing["params_b"] = model.params_b if model is not None else check.params_b
        sizing["model"] = model
        expect: Expectation = "needs" if isinstance(check.expect, dict) else check.expect
        needs = float(check.expect["needs_gb"]) if isinstance(check.expect, dict) else None
        tolerance = (
            float(check.expect.get("tolerance", DEFAULT_TOLERANCE))
            if isinstance(check.expect, dict)
            else DEFAULT_TOLERANCE
        )
        situation = Situation(
            tuple(sizing.items()),
            expect,
            check.device,
            check.device_memory_gb,
            needs,
            tolerance,
            frozenset(check.fixed),
            doc.location((*where, "check")),
        )
        applies = parsed.applies_to
        span = applies.params_b or _Span()
        record = ClaimRecord(
            parsed.id,
            parsed.source,
            parsed.claim,
            situation,
            AppliesTo(
                tuple(v.lower() for v in applies.workload),
                tuple(v.lower() for v in applies.method),
                tuple(v.lower() for v in applies.precision),
                span.min,
                span.max,
            ),
            parsed.note,
        )
        if record.id in seen:
            errors.append(
                FileError(
                    doc.location((*where, "id")),
                    f"duplicate claim id {record.id!r} (first at entry {seen[record.id] + 1})",
                )
            )
        seen[record.id] = index
        records.append(record)
    if errors:
        raise FileErrors(errors)
    return tuple(records)


# ---------------------------------------------------------------------------------------------
# energy.yaml and pathways.yaml


class _Positive(StrictModel):
    value: float = Field(gt=0)
    source: str
    note: str | None = None


class _OptionalPositive(StrictModel):
    value: float | None = Field(default=None, gt=0)
    source: str
    note: str | None = None


class _PeakModel(StrictModel):
    value: float = Field(gt=0)
    unit: Literal["TFLOP/s", "PFLOP/s"]
    precision: str = Field(pattern=r"^(fp|bf|tf|int)[0-9]+$")
    sparse: bool
    source: str
    note: str | None = None


class _PathwayModel(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    device: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    memory_type: str = ""
    host_included: bool = False
    price_usd: _Positive
    power_w: _Positive
    ai_peak: _PeakModel
    fp32_tflops: _OptionalPositive
    memory_gb: _Positive
    bandwidth_gbs: _Positive


class _ErratumModel(StrictModel):
    id: str
    pathway: str
    scenario: str
    field: Literal["it_kw", "facility_kw", "energy_kwh", "battery_kwh", "powerwalls", "capex_usd"]
    table: str
    printed: float
    correct: float
    note: str


class _PathwaysFile(StrictModel):
    sources: dict[str, str]
    pathways: list[_PathwayModel] = Field(min_length=1)
    errata: list[_ErratumModel] = Field(default_factory=list)


class _BatteryModel(StrictModel):
    id: str
    name: str
    energy_kwh: _Positive
    continuous_kw: _Positive
    price_usd: _Positive


class _ScenarioModel(StrictModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    label: str
    host_factor: float = Field(ge=1)
    pue: float = Field(ge=1)
    efficiency: float = Field(gt=0, le=1)
    dod: float = Field(gt=0, le=1)
    source: str
    note: str | None = None


class _EnergyFile(StrictModel):
    sources: dict[str, str]
    run_hours: _Positive
    battery: _BatteryModel
    scenarios: list[_ScenarioModel] = Field(min_length=1)


def kb_file(name: str, kb_dir: str | Path | None = None) -> Path:
    """`name` from `kb_dir` when that folder has it, else from the shipped knowledge base."""
    if kb_dir is not None:
        candidate = Path(kb_dir) / name
        if candidate.is_file():
            return candidate
    return shipped_kb_dir() / name


def _validated(doc: Document, model: type[Shape]) -> Shape:
    errors: list[FileError] = []
    parsed = validate_part(doc, model, doc.data, errors)
    if parsed is None:
        raise FileErrors(errors)
    return parsed


def _check_sources(
    doc: Document,
    declared: dict[str, str],
    data: Any,
    errors: list[FileError],
    key: tuple[str | int, ...] = (),
) -> None:
    """Every `source` must name an entry of the file's `sources` table (or be the command line)."""
    if isinstance(data, dict):
        for name, value in data.items():
            if name == "source" and isinstance(value, str) and value not in declared:
                errors.append(
                    FileError(
                        doc.location((*key, name)),
                        f"unknown source {value!r}{did_you_mean(value, declared)}",
                    )
                )
            elif name != "sources":
                _check_sources(doc, declared, value, errors, (*key, name))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            _check_sources(doc, declared, item, errors, (*key, index))


def _unique_ids(doc: Document, items: list[Any], section: str, errors: list[FileError]) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item.id in seen:
            errors.append(
                FileError(
                    doc.location((section, index, "id")), f"duplicate id {item.id!r} in {section}"
                )
            )
        seen.add(item.id)


def _money(value: float) -> Money:
    """A validated positive price as money (through repr, so 8999.99 stays 8999.99)."""
    return to_money(value, "price_usd")


def load_energy(kb_dir: str | Path | None = None) -> EnergyKnobs:
    """Scenarios, battery and run length from energy.yaml (FileErrors, located, if it is wrong)."""
    doc = load_yaml(kb_file("energy.yaml", kb_dir))
    parsed: _EnergyFile = _validated(doc, _EnergyFile)
    errors: list[FileError] = []
    _check_sources(doc, parsed.sources, doc.data, errors)
    _unique_ids(doc, parsed.scenarios, "scenarios", errors)
    if any(s.id in (CUSTOM_SCENARIO, "all") for s in parsed.scenarios):
        errors.append(
            FileError(
                doc.location(("scenarios",)),
                f"'{CUSTOM_SCENARIO}' and 'all' are reserved scenario ids",
            )
        )
    if errors:
        raise FileErrors(errors)
    battery = parsed.battery
    return EnergyKnobs(
        hours=parsed.run_hours.value,
        battery=Battery(
            battery.name,
            battery.energy_kwh.value,
            battery.continuous_kw.value,
            _money(battery.price_usd.value),
        ),
        scenarios=tuple(
            Scenario(
                s.id, s.label, s.host_factor, s.pue, s.efficiency, s.dod, s.source, s.note or ""
            )
            for s in parsed.scenarios
        ),
    )


_FIELD_LABELS = {
    "price_usd": "price",
    "power_w": "power",
    "ai_peak": "AI peak",
    "fp32_tflops": "FP32",
    "memory_gb": "memory",
    "bandwidth_gbs": "bandwidth",
}


def load_pathways(kb_dir: str | Path | None = None) -> Pathways:
    """The paper's pathways from pathways.yaml, as plan devices carrying their source notes."""
    doc = load_yaml(kb_file("pathways.yaml", kb_dir))
    parsed: _PathwaysFile = _validated(doc, _PathwaysFile)
    errors: list[FileError] = []
    _check_sources(doc, parsed.sources, doc.data, errors)
    _unique_ids(doc, parsed.pathways, "pathways", errors)
    ids = {p.id for p in parsed.pathways}
    for index, erratum in enumerate(parsed.errata):
        if erratum.pathway not in ids:
            errors.append(
                FileError(
                    doc.location(("errata", index, "pathway")),
                    f"unknown pathway {erratum.pathway!r}{did_you_mean(erratum.pathway, ids)}",
                )
            )
    if errors:
        raise FileErrors(errors)
    devices: list[PlanDevice] = []
    for pathway in parsed.pathways:
        peak = pathway.ai_peak
        tflops = peak.value * (1000.0 if peak.unit == "PFLOP/s" else 1.0)
        notes = [
            f"{_FIELD_LABELS[name]} ({getattr(pathway, name).source}): "
            f"{getattr(pathway, name).note}"
            for name in _FIELD_LABELS
            if getattr(pathway, name).note
        ]
        devices.append(
            PlanDevice(
                id=pathway.device,
                name=pathway.name,
                price_usd=_money(pathway.price_usd.value),
                power_w=pathway.power_w.value,
                ai_peak=Peak(tflops, peak.precision, peak.sparse, peak.source),
                fp32_tflops=pathway.fp32_tflops.value,
                memory_gb=pathway.memory_gb.value,
                bandwidth_gbs=pathway.bandwidth_gbs.value,
                host_included=pathway.host_included,
                memory_type=pathway.memory_type,
                pathway=pathway.id,
                notes=tuple(notes),
            )
        )
    errata = tuple(
        Erratum(e.id, e.pathway, e.scenario, e.field, e.table, e.printed, e.correct, e.note)
        for e in parsed.errata
    )
    return Pathways(tuple(devices), errata)


# ---------------------------------------------------------------------------------------------
# demand.yaml


class _SourcedNumber(StrictModel):
    value: float = Field(gt=0)
    source: str
    note: str


class _InteractiveDefaults(StrictModel):
    tokens_per_s_per_user: _SourcedNumber
    decode_mbu: _SourcedNumber
    decode_mbu_nvlink: _SourcedNumber
    decode_mbu_pcie: _SourcedNumber
    decode_mfu: _SourcedNumber
    pcie_tensor_parallel_max: _SourcedNumber


class _TrainingDefaults(StrictModel):
    flops_per_param_token_full: _SourcedNumber
    flops_per_param_token_lora: _SourcedNumber
    qlora_time_factor: _SourcedNumber
    tokens_per_param_pretraining: _SourcedNumber
    finetune_tokens_b: _SourcedNumber
    finetune_epochs: _SourcedNumber
    deadline_days: _SourcedNumber
    mfu_nvlink: _SourcedNumber
    mfu_pcie_server: _SourcedNumber
    mfu_single_gpu: _SourcedNumber
    mfu_pcie_workstation: _SourcedNumber
    mfu_no_p2p: _SourcedNumber
    step_tokens_pretraining: _SourcedNumber
    step_tokens_finetune: _SourcedNumber
    gradient_bytes: _SourcedNumber


class _DemandFile(StrictModel):
    interactive: _InteractiveDefaults
    training: _TrainingDefaults


def load_demand_defaults(kb_dir: str | Path | None = None) -> DemandDefaults:
    """The demand arithmetic's defaults from demand.yaml; every source must be registered in
    sources.yaml (FileErrors, located, otherwise)."""
    path = kb_file("demand.yaml", kb_dir)  # the shipped one when the folder has none
    return _load_demand_cached(str(path.resolve()), str((path.parent / "sources.yaml").resolve()))


@functools.lru_cache(maxsize=8)
def _load_demand_cached(path: str, sources_path: str) -> DemandDefaults:
    from gpu_advisor.knowledge.kb import source_id
    from gpu_advisor.knowledge.kb_schema import load_sources

    doc = load_yaml(path)
    parsed: _DemandFile = _validated(doc, _DemandFile)
    errors: list[FileError] = []
    registry = load_sources(Path(sources_path), errors)
    values: dict[str, Default] = {}
    for section, names in (("interactive", INTERACTIVE_FIELDS), ("training", TRAINING_FIELDS)):
        group = getattr(parsed, section)
        for name in names:
            item: _SourcedNumber = getattr(group, name)
            if registry and source_id(item.source) not in registry:
                errors.append(
                    FileError(
                        doc.location((section, name, "source")),
                        f"unknown source {item.source!r}{did_you_mean(item.source, registry)}",
                    )
                )
            values[name] = Default(name, item.value, item.source, item.note)
    if errors:
        raise FileErrors(errors)
    return DemandDefaults(values)
