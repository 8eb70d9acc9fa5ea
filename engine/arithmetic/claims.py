"""The seeds' quantitative memory claims, re-checked with our own arithmetic.

``kb/claims.yaml`` states each claim as a situation (workload, model, method, precision, card
size, GPU count) and what the claim expects (it fits, it does not fit, or it needs about X GB).
The verdict is never stored: :func:`check_claim` runs :func:`gpu_advisor.arithmetic.sizing.estimate` on the
situation, and when the default conventions disagree with the claim it tries the usual memory
savers (8-bit AdamW, 12 B/param, optimizer offload, an 8-bit or 4-bit base, FP8 weights or KV)
to say under which assumption, if any, the claim would hold. A saver that changes something the
claim states outright (its ``fixed`` fields) is not tried.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from gpu_advisor.errors import FileError, FileErrors, UsageError, did_you_mean, one_of
from gpu_advisor.arithmetic.sizing import (
    Estimate,
    SizingRequest,
    estimate,
    gpus_needed,
    load_model_catalog,
    resolve_model,
    usable_memory_gb,
)
from gpu_advisor.knowledge.yamlio import Document, load_yaml

Verdict = Literal["holds", "holds-under-assumptions", "does-not-hold"]
Expectation = Literal["fits", "does-not-fit", "needs"]

DEFAULT_TOLERANCE = 0.15
"""How far a "needs about X GB" claim may be from our figure and still hold."""
PARAMS_MATCH_TOLERANCE = 0.15
"""A consultation touches a claim when its parameter count is within 15% of the claim's range."""
_SOURCE = re.compile(r"^seed-00[0-3](#[a-z0-9-]+)?$")


@dataclass(frozen=True)
class ClaimCheck:
    """The situation a claim describes, as a sizing request plus what the claim expects."""

    request: SizingRequest
    expect: Expectation
    device: str | None = None
    device_memory_gb: float | None = None
    needs_gb: float | None = None
    tolerance: float = DEFAULT_TOLERANCE
    fixed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AppliesTo:
    """When a consultation is in the claim's territory (empty tuples do not constrain)."""

    workloads: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    params_min: float | None = None
    params_max: float | None = None


@dataclass(frozen=True)
class Claim:
    id: str
    source: str
    claim: str
    check: ClaimCheck
    applies_to: AppliesTo
    note: str | None = None


@dataclass(frozen=True)
class ClaimVerdict:
    """Our arithmetic's answer to one claim, with the numbers and assumptions behind it."""

    claim: Claim
    verdict: Verdict
    computed_gb: float
    explanation: str
    assumptions: tuple[str, ...]
    holds_with: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.claim.id,
            "source": self.claim.source,
            "claim": self.claim.claim,
            "verdict": self.verdict,
            "computed_gb": round(self.computed_gb, 1),
            "explanation": self.explanation,
            "holds_with": [
                {"assumption": label, "gb": round(gb, 1)} for label, gb in self.holds_with
            ],
            "assumptions": list(self.assumptions),
        }


# ---------------------------------------------------------------------------------------------
# Memory savers tried when the default conventions disagree with a claim


@dataclass(frozen=True)
class _Saver:
    label: str
    overrides: tuple[tuple[str, Any], ...]
    touches: frozenset[str]

    def apply(self, req: SizingRequest) -> SizingRequest:
        changes = dict(self.overrides)
        if changes.get("zero_stage") == "keep-or-2":
            changes["zero_stage"] = max(req.zero_stage, 2)
        return replace(req, **changes)


def _saver(label: str, touches: set[str], **overrides: Any) -> _Saver:
    return _Saver(label, tuple(overrides.items()), frozenset(touches))


_SAVERS: dict[str, tuple[_Saver, ...]] = {
    "full": (
        _saver("8-bit AdamW", {"optimizer"}, optimizer="adamw-8bit"),
        _saver(
            "12 B/param (bf16 AdamW without fp32 master weights)",
            {"bytes_per_param"},
            bytes_per_param_convention=12,
        ),
        _saver(
            "optimizer state offloaded to host RAM (DeepSpeed ZeRO-Offload)",
            {"zero", "offload"},
            zero_stage="keep-or-2",
            offload=True,
        ),
    ),
    "lora": (
        _saver("an 8-bit (int8) frozen base", {"precision"}, precision="int8"),
        _saver("QLoRA (4-bit NF4 base)", {"method", "precision"}, method="qlora"),
    ),
    "qlora": (_saver("8-bit AdamW for the adapters", {"optimizer"}, optimizer="adamw-8bit"),),
    "inference": (
        _saver("an FP8 KV cache", {"kv_precision"}, kv_precision="fp8"),
        _saver("FP8 weights", {"precision"}, precision="fp8"),
        _saver("4-bit weights (NVFP4)", {"precision"}, precision="nvfp4"),
    ),
}


def _savers_for(check: ClaimCheck) -> list[_Saver]:
    req = check.request
    kind = "inference" if req.workload == "inference" else (req.method or "full")
    savers = [s for s in _SAVERS[kind] if not (s.touches & check.fixed)]
    if req.precision == "fp32":
        savers = [s for s in savers if "bytes_per_param" not in s.touches]
    return [s for s in savers if s.apply(req) != req]


# ---------------------------------------------------------------------------------------------
# Checking


def _satisfied(check: ClaimCheck, est: Estimate) -> bool:
    if check.expect == "needs":
        assert check.needs_gb is not None
        return abs(est.total_gb - check.needs_gb) <= check.tolerance * check.needs_gb
    assert check.device_memory_gb is not None
    fits = est.per_gpu_gb <= usable_memory_gb(check.device_memory_gb)
    return fits if check.expect == "fits" else not fits


def _measure(check: ClaimCheck, est: Estimate) -> float:
    return est.total_gb if check.expect == "needs" else est.per_gpu_gb


def _situation(check: ClaimCheck) -> str:
    req = check.request
    model = req.model.name if req.model else f"a {req.params_b:g}B model"
    if req.workload == "inference":
        what = f"{req.precision} inference of {model} at {req.context_tokens} tokens"
    else:
        method = req.method or "full"
        label = {
            "full": "full fine-tuning" if req.workload == "fine-tuning" else "pretraining",
            "lora": "LoRA",
            "qlora": "QLoRA",
        }[method]
        base = f", {req.precision} base" if method == "lora" else ""
        what = f"{label} of {model}{base} at {req.context_tokens} tokens x batch {req.batch_size}"
        if req.gpus > 1:
            what += f", ZeRO-{req.zero_stage}"
    return what


@functools.lru_cache(maxsize=256)
def check_claim(claim: Claim) -> ClaimVerdict:
    """Run the sizing arithmetic on a claim's situation and say whether, and how, it holds."""
    check = claim.check
    base = estimate(check.request)
    computed = _measure(check, base)
    alternatives = [(saver, estimate(saver.apply(check.request))) for saver in _savers_for(check)]
    default_ok = _satisfied(check, base)
    situation = _situation(check)
    if check.expect == "needs":
        assert check.needs_gb is not None
        lead = (
            f"{situation} needs {computed:.1f} GB in our arithmetic against the claimed "
            f"~{check.needs_gb:g} GB (within {check.tolerance:.0%} counts as agreeing)"
        )
        working = [(s.label, _measure(check, e)) for s, e in alternatives if _satisfied(check, e)]
        if default_ok:
            return ClaimVerdict(claim, "holds", computed, lead + ".", base.assumptions)
        direction = "more" if computed > check.needs_gb else "less"
        if working:
            shown = " or ".join(f"{label} ({gb:.1f} GB)" for label, gb in working)
            return ClaimVerdict(
                claim,
                "holds-under-assumptions",
                computed,
                f"{lead}: with the default conventions it takes {direction}; the figure "
                f"matches only with {shown}.",
                base.assumptions,
                tuple(working),
            )
        return ClaimVerdict(
            claim,
            "does-not-hold",
            computed,
            f"{lead}: it takes {direction}, and no usual memory saver brings it within range.",
            base.assumptions,
        )

    assert check.device_memory_gb is not None
    memory = check.device_memory_gb
    usable = usable_memory_gb(memory)
    req = check.request
    cards = f"{req.gpus} x {memory:g} GB" if req.gpus > 1 else f"one {memory:g} GB card"
    lead = (
        f"{situation} needs {computed:.1f} GB per GPU on {cards}, where {usable:.1f} GB is "
        f"usable (95% of {memory:g} binary GB)"
    )
    fewest = gpus_needed(req, memory, max_gpus=64)
    fewest_text = (
        f"; the fewest {memory:g} GB GPUs that hold it: {fewest}"
        if fewest
        else f"; no count of {memory:g} GB GPUs up to 64 holds it this way"
    )
    fitting = [(s.label, e.per_gpu_gb) for s, e in alternatives if e.per_gpu_gb <= usable]
    fits_text = " or ".join(f"{label} ({gb:.1f} GB)" for label, gb in fitting)
    if check.expect == "fits":
        if default_ok:
            return ClaimVerdict(
                claim,
                "holds",
                computed,
                f"{lead}, so it fits ({usable - computed:.1f} GB to spare).",
                base.assumptions,
            )
        if fitting:
            return ClaimVerdict(
                claim,
                "holds-under-assumptions",
                computed,
                f"{lead}, so with the default conventions it does not fit "
                f"({computed - usable:.1f} GB short); it fits with {fits_text}.",
                base.assumptions,
                tuple(fitting),
            )
        return ClaimVerdict(
            claim,
            "does-not-hold",
            computed,
            f"{lead}: {computed - usable:.1f} GB short, and none of the usual memory "
            f"savers closes the gap{fewest_text}.",
            base.assumptions,
        )
    # expect == "does-not-fit"
    if not default_ok:
        return ClaimVerdict(
            claim,
            "does-not-hold",
            computed,
            f"{lead}, so it does fit ({usable - computed:.1f} GB to spare).",
            base.assumptions,
        )
    if fitting:
        return ClaimVerdict(
            claim,
            "holds-under-assumptions",
            computed,
            f"{lead}, so as stated it does not fit; but it would with {fits_text}, "
            "which the claim does not rule out.",
            base.assumptions,
            tuple(fitting),
        )
    return ClaimVerdict(
        claim,
        "holds",
        computed,
        f"{lead}, so it does not fit ({computed - usable:.1f} GB over){fewest_text}.",
        base.assumptions,
    )


# ---------------------------------------------------------------------------------------------
# Loading kb/claims.yaml

_CLAIM_KEYS = {"id", "source", "claim", "check", "applies_to", "note"}
_CHECK_KEYS = {
    "workload",
    "params_b",
    "model",
    "method",
    "precision",
    "context",
    "batch",
    "gpus",
    "zero",
    "offload",
    "kv_precision",
    "optimizer",
    "gradient_checkpointing",
    "bytes_per_param",
    "device",
    "device_memory_gb",
    "expect",
    "fixed",
}
_FIXABLE = {
    "method",
    "precision",
    "kv_precision",
    "optimizer",
    "bytes_per_param",
    "zero",
    "offload",
}
_APPLIES_KEYS = {"workload", "method", "precision", "params_b"}


def shipped_claims_path() -> Path:
    return Path(str(resources.files("gpu_advisor.kb").joinpath("claims.yaml")))


def load_claims(path: Path | str | None = None) -> list[Claim]:
    """The claims file, validated (every problem reported with its line), cached per path."""
    target = Path(path) if path is not None else shipped_claims_path()
    return list(_load_claims_cached(str(target.resolve())))


@functools.lru_cache(maxsize=8)
def _load_claims_cached(path: str) -> tuple[Claim, ...]:
    doc = load_yaml(path)
    entries = doc.data.get("claims") if isinstance(doc.data, dict) else None
    if not isinstance(entries, list):
        raise FileErrors([FileError(doc.location(), "expected a mapping with a 'claims:' list")])
    errors: list[FileError] = []
    claims: list[Claim] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        claim = _parse_claim(doc, ("claims", index), entry, errors)
        if claim is None:
            continue
        if claim.id in seen:
            errors.append(
                FileError(
                    doc.location(("claims", index, "id")),
                    f"duplicate claim id {claim.id!r} (first at entry {seen[claim.id] + 1})",
                )
            )
        seen[claim.id] = index
        claims.append(claim)
    if errors:
        raise FileErrors(errors)
    return tuple(claims)


def _unknown_keys(
    doc: Document,
    where: tuple[str | int, ...],
    entry: dict[str, Any],
    allowed: set[str],
    errors: list[FileError],
) -> None:
    for key in entry:
        if key not in allowed:
            errors.append(
                FileError(
                    doc.key_location((*where, key)),
                    f"unknown key {key!r}{did_you_mean(str(key), allowed)}; {one_of(allowed)}",
                )
            )


def _number(
    doc: Document, where: tuple[str | int, ...], value: Any, name: str, errors: list[FileError]
) -> float | None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        errors.append(
            FileError(doc.location(where), f"{name}: expected a positive number, got {value!r}")
        )
        return None
    return float(value)


def _parse_claim(
    doc: Document, where: tuple[str | int, ...], entry: Any, errors: list[FileError]
) -> Claim | None:
    if not isinstance(entry, dict):
        errors.append(FileError(doc.location(where), "each claim must be a mapping"))
        return None
    count = len(errors)
    _unknown_keys(doc, where, entry, _CLAIM_KEYS, errors)
    for key in ("id", "source", "claim", "check", "applies_to"):
        if key not in entry:
            errors.append(FileError(doc.location(where), f"missing required key {key!r}"))
    for key in ("id", "source", "claim", "note"):
        if key in entry and not isinstance(entry[key], str):
            errors.append(FileError(doc.location((*where, key)), f"{key}: expected text"))
    if isinstance(entry.get("source"), str) and not _SOURCE.match(entry["source"]):
        errors.append(
            FileError(
                doc.location((*where, "source")),
                f"source {entry['source']!r} must be a seed id seed-000..seed-003, "
                "optionally with a #locator",
            )
        )
    if len(errors) > count:
        return None
    check = _parse_check(doc, (*where, "check"), entry["check"], errors)
    applies = _parse_applies(doc, (*where, "applies_to"), entry["applies_to"], errors)
    if check is None or applies is None or len(errors) > count:
        return None
    return Claim(entry["id"], entry["source"], entry["claim"], check, applies, entry.get("note"))


def _parse_check(
    doc: Document, where: tuple[str | int, ...], entry: Any, errors: list[FileError]
) -> ClaimCheck | None:
    if not isinstance(entry, dict):
        errors.append(FileError(doc.location(where), "check: expected a mapping"))
        return None
    count = len(errors)
    _unknown_keys(doc, where, entry, _CHECK_KEYS, errors)
    if ("params_b" in entry) == ("model" in entry):
        errors.append(
            FileError(doc.location(where), "check: give exactly one of params_b and model")
        )
    model = None
    params_b: float | None = None
    if "model" in entry:
        try:
            model = resolve_model(str(entry["model"]), load_model_catalog())
            params_b = model.params_b
        except UsageError as exc:
            errors.append(FileError(doc.location((*where, "model")), str(exc)))
    elif "params_b" in entry:
        params_b = _number(doc, (*where, "params_b"), entry["params_b"], "params_b", errors)
    expect, needs, tolerance = _parse_expect(doc, (*where, "expect"), entry.get("expect"), errors)
    memory = None
    if expect in ("fits", "does-not-fit"):
        if "device_memory_gb" not in entry:
            errors.append(
                FileError(doc.location(where), f"check: expect {expect} needs device_memory_gb")
            )
        else:
            memory = _number(
                doc,
                (*where, "device_memory_gb"),
                entry["device_memory_gb"],
                "device_memory_gb",
                errors,
            )
    fixed = entry.get("fixed", [])
    if not isinstance(fixed, list) or not all(isinstance(f, str) and f in _FIXABLE for f in fixed):
        errors.append(
            FileError(
                doc.location((*where, "fixed")),
                f"fixed: expected a list of field names, each {one_of(_FIXABLE)}",
            )
        )
    if len(errors) > count or params_b is None or expect is None:
        return None
    fields = {
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
    values: dict[str, Any] = {field: entry[key] for key, field in fields.items() if key in entry}
    values.setdefault("context_tokens", 4096 if values.get("workload") == "inference" else 2048)
    try:
        request = SizingRequest(params_b=params_b, model=model, **values)
        estimate(request)
    except (UsageError, TypeError) as exc:
        errors.append(
            FileError(doc.location(where), f"check does not describe a valid sizing: {exc}")
        )
        return None
    return ClaimCheck(
        request=request,
        expect=expect,
        device=entry.get("device"),
        device_memory_gb=memory,
        needs_gb=needs,
        tolerance=tolerance,
        fixed=frozenset(fixed),
    )


def _parse_expect(
    doc: Document, where: tuple[str | int, ...], value: Any, errors: list[FileError]
) -> tuple[Expectation | None, float | None, float]:
    if value in ("fits", "does-not-fit"):
        return value, None, DEFAULT_TOLERANCE
    if isinstance(value, dict) and "needs_gb" in value and set(value) <= {"needs_gb", "tolerance"}:
        needs = _number(doc, (*where, "needs_gb"), value["needs_gb"], "needs_gb", errors)
        tolerance = value.get("tolerance", DEFAULT_TOLERANCE)
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, (int, float))
            or not 0 < tolerance < 1
        ):
            errors.append(
                FileError(
                    doc.location((*where, "tolerance")),
                    f"tolerance: expected a fraction between 0 and 1, got {tolerance!r}",
                )
            )
            return None, None, DEFAULT_TOLERANCE
        return ("needs" if needs is not None else None), needs, float(tolerance)
    errors.append(
        FileError(
            doc.location(where),
            "expect: use 'fits', 'does-not-fit' or {needs_gb: N, tolerance: 0.15}",
        )
    )
    return None, None, DEFAULT_TOLERANCE


def _parse_applies(
    doc: Document, where: tuple[str | int, ...], entry: Any, errors: list[FileError]
) -> AppliesTo | None:
    if not isinstance(entry, dict):
        errors.append(FileError(doc.location(where), "applies_to: expected a mapping"))
        return None
    count = len(errors)
    _unknown_keys(doc, where, entry, _APPLIES_KEYS, errors)
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("workload", "method", "precision"):
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(
                FileError(doc.location((*where, key)), f"{key}: expected a list of names")
            )
            continue
        lists[key] = tuple(v.lower() for v in value)
    low = high = None
    if "params_b" in entry:
        span = entry["params_b"]
        if not isinstance(span, dict) or not set(span) <= {"min", "max"} or not span:
            errors.append(
                FileError(doc.location((*where, "params_b")), "params_b: expected {min: N, max: N}")
            )
        else:
            low = (
                _number(doc, (*where, "params_b", "min"), span["min"], "min", errors)
                if "min" in span
                else None
            )
            high = (
                _number(doc, (*where, "params_b", "max"), span["max"], "max", errors)
                if "max" in span
                else None
            )
            if low is not None and high is not None and low > high:
                errors.append(
                    FileError(doc.location((*where, "params_b")), "params_b: min is above max")
                )
    if len(errors) > count:
        return None
    return AppliesTo(
        lists.get("workload", ()), lists.get("method", ()), lists.get("precision", ()), low, high
    )


# ---------------------------------------------------------------------------------------------
# Which claims a consultation touches


def _matches(applies: AppliesTo, answers: Mapping[str, Any]) -> bool:
    for key, allowed in (
        ("workload", applies.workloads),
        ("method", applies.methods),
        ("precision", applies.precisions),
    ):
        value = answers.get(key)
        if not isinstance(value, str) or not allowed:
            continue  # absent (or a "missing" marker): no constraint
        if str(value).strip().lower() not in allowed:
            return False
    params = answers.get("model_params_b")
    if isinstance(params, bool) or not isinstance(params, (int, float, str)):
        return True  # absent (or a "missing" marker): no constraint on size
    try:
        size = float(params)
    except ValueError:
        raise UsageError(f"model_params_b must be a number of billions, got {params!r}") from None
    too_small = applies.params_min is not None and size < applies.params_min * (
        1 - PARAMS_MATCH_TOLERANCE
    )
    too_large = applies.params_max is not None and size > applies.params_max * (
        1 + PARAMS_MATCH_TOLERANCE
    )
    return not (too_small or too_large)


def claims_touched(
    answers: Mapping[str, Any], claims: list[Claim] | None = None
) -> list[ClaimVerdict]:
    """Verdicts on the claims whose situation matches a consultation's answers.

    Keys read: workload, model_params_b, method, precision; a key that is absent or None does
    not narrow the match. Parameter counts match within 15% of a claim's range.
    """
    pool = claims if claims is not None else load_claims()
    return [check_claim(claim) for claim in pool if _matches(claim.applies_to, answers)]
