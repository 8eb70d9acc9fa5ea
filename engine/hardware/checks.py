"""The hardware checks (``rules/hardware/``): loaded and checked like the rule base, run in Python.

Each check is a rule in the condition language of the main rule base: the same parser, and the
rule base's own checker (:class:`gpu_advisor.knowledge.rulebase.VocabularyChecker`) for names,
types, choices, message placeholders and sources, against the names the probe declares
(:data:`gpu_advisor.hardware.facts.VOCABULARY`). Errors come back as ``path:line:col`` with a
did-you-mean, every problem of every file at once. A check runs once per GPU (scope ``gpu``) or
once for the machine (scope ``machine``), on values where an unmeasured one is not set, so a
comparison with it is false and no check fires on a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from gpu_advisor.errors import FileError, FileErrors, Location, did_you_mean
from gpu_advisor.hardware.facts import VOCABULARY, gpu_facts, machine_facts, normalize_name
from gpu_advisor.hardware.machine import Machine
from gpu_advisor.knowledge.kb import Knowledge
from gpu_advisor.knowledge.rulebase import VocabularyChecker
from gpu_advisor.knowledge.schema import StrictModel, validation_errors
from gpu_advisor.knowledge.yamlio import Document, iter_yaml_files, load_yaml
from gpu_advisor.lang.conditions import (
    MISSING,
    Condition,
    LeafResult,
    Ref,
    decisive_leaves,
    parse_condition,
)
from gpu_advisor.lang.conditions import render as fill_template

SEVERITIES = ("info", "caution", "serious")
"""Finding severities, mildest first (the same scale as the main rule base's warnings)."""

# ---------------------------------------------------------------------------------------------
# File shapes (pydantic); names, conditions and sources are checked after, by the rule checker


class CheckModel(StrictModel):
    """One entry of ``checks:`` as written in the file."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    scope: Literal["gpu", "machine"]
    description: str
    when: Any
    severity: Literal["info", "caution", "serious"]
    finding: str
    fix: str
    sources: list[str] = []
    see: list[str] = []


class ModelNames(StrictModel):
    """One entry of ``models:``: the names NVIDIA's tools print for one knowledge-base device."""

    device: str
    names: list[str] = Field(min_length=1)


class HardwareFile(StrictModel):
    """A file's shape; each entry is validated on its own so one bad entry hides no other."""

    topic: str | None = None
    title: str | None = None
    checks: list[Any] | None = None
    models: list[Any] | None = None


# ---------------------------------------------------------------------------------------------
# Loaded checks


@dataclass(frozen=True)
class Check:
    """One hardware check: a condition over one GPU (scope gpu) or the machine, and its finding."""

    id: str
    scope: str
    description: str
    when: Condition
    severity: str
    finding: str
    fix: str
    sources: tuple[str, ...]
    see: tuple[str, ...]
    location: Location


@dataclass(frozen=True)
class HardwareRules:
    """Every loaded check and the product-name table, from all files of the folder."""

    checks: tuple[Check, ...]
    names: Mapping[str, str]
    """Normalized product name -> knowledge-base device id."""


def shipped_hardware_dir() -> Path:
    """``rules/hardware/`` as installed with the package (the default ``--checks``)."""
    return Path(str(resources.files("gpu_advisor.rules"))) / "hardware"


class HardwareChecker(VocabularyChecker):
    """The rule base's checker over the probe's declared names.

    Only the wording of three messages is the probe's own: a device name in a machine check
    (the fix is ``scope: gpu``), an unknown name, and a value of the wrong type or choice, as
    ``gpu-advisor probe`` has always printed them (tests/test_probe.py pins them). Walking the
    conditions, the ``{placeholders}`` and the sources is the rule base's.
    """

    def check_ref(
        self, ref: Ref, where: Location, allow_device: bool
    ) -> tuple[str, tuple[str, ...]] | None:
        if ref.scope == "device" and not allow_device:
            self.out.add(where, f"{ref}: a machine check has no device; use scope: gpu")
            return None
        if self.describe(ref) is None:
            hint = did_you_mean(ref.name, self.known_names(ref.scope))
            self.out.add(where, f"unknown name {ref}{hint}")
            return None
        return super().check_ref(ref, where, allow_device)

    def check_value(
        self, ref: Ref, kind: str, choices: tuple[str, ...], value: Any, where: Location
    ) -> None:
        given = _value_kind(value)
        if given != kind:
            self.out.add(where, f"{ref} is a {kind}, not {given} {value!r}")
        elif choices and value not in choices:
            self.out.add(
                where,
                f"{value!r} is not one of {', '.join(choices)}{did_you_mean(str(value), choices)}",
            )


def _value_kind(value: Any) -> str:
    """The condition-language type of a literal: bool, number or string."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def load_hardware_rules(knowledge: Knowledge, directory: Path | str | None = None) -> HardwareRules:
    """Load ``rules/hardware/*.yaml``; raise FileErrors listing every problem in every file."""
    base = Path(directory) if directory is not None else shipped_hardware_dir()
    if not base.is_dir():
        raise FileErrors([FileError(Location(str(base)), "hardware rules folder not found")])
    errors: list[FileError] = []
    checker = HardwareChecker(VOCABULARY, knowledge, errors)
    checks: list[Check] = []
    names: dict[str, str] = {}
    seen: dict[str, Location] = {}
    for path in iter_yaml_files(base):
        try:
            doc = load_yaml(path)
        except FileErrors as exc:
            errors.extend(exc.errors)
            continue
        try:
            parsed = HardwareFile.model_validate(doc.data if doc.data is not None else {})
        except ValidationError as exc:
            errors.extend(validation_errors(doc, HardwareFile, exc))
            continue
        if parsed.checks is None and parsed.models is None:
            errors.append(FileError(doc.location(), "expected a 'checks:' or a 'models:' list"))
        for i, raw in enumerate(parsed.checks or []):
            try:
                model = CheckModel.model_validate(raw)
            except ValidationError as exc:
                errors.extend(validation_errors(doc, CheckModel, exc, ("checks", i)))
                continue
            check = _build_check(doc, ("checks", i), model, checker, errors)
            if check.id in seen:
                errors.append(
                    FileError(
                        doc.location(("checks", i, "id")),
                        f"duplicate check id {check.id!r} (also at {seen[check.id]})",
                    )
                )
            seen[check.id] = check.location
            checks.append(check)
        for i, raw in enumerate(parsed.models or []):
            try:
                entry = ModelNames.model_validate(raw)
            except ValidationError as exc:
                errors.extend(validation_errors(doc, ModelNames, exc, ("models", i)))
                continue
            if entry.device not in knowledge.devices:
                errors.append(
                    FileError(
                        doc.location(("models", i, "device")),
                        f"unknown device {entry.device!r}"
                        f"{did_you_mean(entry.device, knowledge.devices)}",
                    )
                )
            for j, name in enumerate(entry.names):
                key = normalize_name(name)
                if key in names and names[key] != entry.device:
                    errors.append(
                        FileError(
                            doc.location(("models", i, "names", j)),
                            f"product name {name!r} already maps to {names[key]!r}",
                        )
                    )
                names[key] = entry.device
    if errors:
        raise FileErrors(errors)
    return HardwareRules(tuple(checks), names)


def _build_check(
    doc: Document,
    key: tuple[str | int, ...],
    model: CheckModel,
    checker: HardwareChecker,
    errors: list[FileError],
) -> Check:
    """Parse one check's condition and check it, its messages and its sources."""
    when = parse_condition(
        model.when, doc.location, key + ("when",), lambda k: k in doc.quoted, errors
    )
    has_device = model.scope == "gpu"
    checker.check_condition(when, allow_device=has_device)
    for field_name in ("finding", "fix"):
        checker.check_template(
            getattr(model, field_name), doc.location(key + (field_name,)), has_device
        )
    checker.check_sources(model.sources, doc, key + ("sources",))
    return Check(
        model.id,
        model.scope,
        model.description,
        when,
        model.severity,
        model.finding,
        model.fix,
        tuple(model.sources),
        tuple(model.see),
        doc.location(key),
    )


# ---------------------------------------------------------------------------------------------
# Running the checks


@dataclass(frozen=True)
class Finding:
    """A check that held, with the values that made it hold."""

    check: str
    severity: str
    gpu: int | None
    message: str
    fix: str
    because: tuple[str, ...]
    sources: tuple[str, ...]
    see: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "gpu": self.gpu,
            "message": self.message,
            "fix": self.fix,
            "because": list(self.because),
            "sources": list(self.sources),
            "see": list(self.see),
        }


def _one_line(template: str, lookup: Callable[[Ref], Any]) -> str:
    """A check's message filled from the values it saw, on one line (YAML folds may leave runs
    of spaces)."""
    return " ".join(fill_template(template, lookup).split())


def _lookup(
    answers: Mapping[str, Any], machine: Mapping[str, Any], device: Mapping[str, Any] | None
) -> Callable[[Ref], Any]:
    def lookup(ref: Ref) -> Any:
        source = {"answer": answers, "fact": machine}.get(ref.scope, device or {})
        value = source.get(ref.name)
        return MISSING if value is None else value

    return lookup


def _describe(result: LeafResult) -> str:
    text = result.describe()
    return text if result.holds else f"not ({text})"


def run_checks(
    machine: Machine,
    rules: HardwareRules,
    knowledge: Knowledge,
    answers: Mapping[str, Any] | None = None,
    planned_parallelism: str | None = None,
    plan_given: bool = False,
) -> list[Finding]:
    """Every check that holds, most serious first, then by GPU."""
    values = dict(answers or {})
    context = machine_facts(machine, knowledge, planned_parallelism, plan_given)
    per_gpu = [gpu_facts(gpu, machine, knowledge) for gpu in machine.gpus]
    findings: list[Finding] = []
    for check in rules.checks:
        targets: Iterable[Mapping[str, Any] | None] = per_gpu if check.scope == "gpu" else [None]
        for device in targets:
            lookup = _lookup(values, context, device)
            holds, why = decisive_leaves(check.when, lookup)
            if not holds:
                continue
            findings.append(
                Finding(
                    check.id,
                    check.severity,
                    None if device is None else int(device["index"]),
                    _one_line(check.finding, lookup),
                    _one_line(check.fix, lookup),
                    tuple(dict.fromkeys(_describe(r) for r in why)),
                    check.sources,
                    check.see,
                )
            )
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    findings.sort(key=lambda f: (order[f.severity], -1 if f.gpu is None else f.gpu))
    return findings
