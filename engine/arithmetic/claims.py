"""The seeds' quantitative memory claims, re-checked with our own arithmetic.

``kb/claims.yaml`` states each claim as a situation (workload, model, method, precision, card
size, GPU count) and what the claim expects (it fits, it does not fit, or it needs about X GB).
The file is read by ``knowledge.catalogs``; the verdict is never stored: :func:`check_claim` runs
:func:`gpu_advisor.arithmetic.sizing.estimate` on the situation, and when the default conventions
disagree with the claim it tries the usual memory
savers (8-bit AdamW, 12 B/param, optimizer offload, an 8-bit or 4-bit base, FP8 weights or KV)
to say under which assumption, if any, the claim would hold. A saver that changes something the
claim states outright (its ``fixed`` fields) is not tried.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from gpu_advisor.arithmetic.sizing import (
    Estimate,
    SizingRequest,
    estimate,
    gpus_needed,
    usable_memory_gb,
)
from gpu_advisor.errors import FileError, FileErrors, UsageError

# The claims file's path too, for callers that read the claims through the arithmetic.
from gpu_advisor.knowledge.claims import (  # noqa: F401
    DEFAULT_TOLERANCE,
    AppliesTo,
    ClaimRecord,
    Expectation,
    shipped_claims_path,
)

Verdict = Literal["holds", "holds-under-assumptions", "does-not-hold"]

PARAMS_MATCH_TOLERANCE = 0.15
"""A consultation touches a claim when its parameter count is within 15% of the claim's range."""


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


def check_claim(claim: Claim | ClaimRecord) -> ClaimVerdict:
    """Run the sizing arithmetic on a claim's situation and say whether, and how, it holds
    (a record read from the file is checked first: UsageError if it is not a valid sizing)."""
    return _verdict(claim if isinstance(claim, Claim) else checked(claim))


@functools.lru_cache(maxsize=256)
def _verdict(claim: Claim) -> ClaimVerdict:
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
# From the file's records to checkable claims


@functools.lru_cache(maxsize=256)
def checked(record: ClaimRecord) -> Claim:
    """A claim record with its situation as a sizing request (UsageError if it is not one)."""
    situation = record.situation
    try:
        request = SizingRequest(**dict(situation.sizing))
        estimate(request)
    except TypeError as exc:
        raise UsageError(str(exc)) from None
    check = ClaimCheck(
        request,
        situation.expect,
        situation.device,
        situation.device_memory_gb,
        situation.needs_gb,
        situation.tolerance,
        situation.fixed,
    )
    return Claim(record.id, record.source, record.claim, check, record.applies_to, record.note)


def load_claims(path: Path | str | None = None) -> list[Claim]:
    """The claims file, validated, each situation checked to be a valid sizing (FileErrors)."""
    from gpu_advisor.knowledge.catalogs import load_claim_records  # pydantic only when loading

    claims: list[Claim] = []
    errors: list[FileError] = []
    for record in load_claim_records(path):
        try:
            claims.append(checked(record))
        except UsageError as exc:
            problem = f"{exc.field}: {exc.message}" if exc.field else exc.message
            errors.append(
                FileError(
                    record.situation.location, f"check does not describe a valid sizing: {problem}"
                )
            )
    if errors:
        raise FileErrors(errors)
    return claims


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
    answers: Mapping[str, Any], claims: Sequence[Claim | ClaimRecord] | None = None
) -> list[ClaimVerdict]:
    """Verdicts on the claims whose situation matches a consultation's answers.

    Keys read: workload, model_params_b, method, precision; a key that is absent or None does
    not narrow the match. Parameter counts match within 15% of a claim's range.
    """
    pool = claims if claims is not None else load_claims()
    return [check_claim(claim) for claim in pool if _matches(claim.applies_to, answers)]
